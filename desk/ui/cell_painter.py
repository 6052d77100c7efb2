"""The positions table's cell painter: one question to the model per cell, text laid out once.

Qt's default delegate asks the model for seven roles per visible cell on every repaint, each a
call into Python (through the filter proxy, three), and shapes every text again to draw it; at
500 positions and a few refreshes a second that was most of a repaint. This painter asks once,
for :data:`PAINT_ROLE` — the text, colours, font and alignment the model already keeps per row —
and draws what the default delegate draws for such a cell: the selection or the cell's tint, then
the text in its colour, elided in the middle when it does not fit. Texts are kept laid out
(QStaticText), so a cell whose text did not change is drawn without shaping it again. The view
still paints the alternating row colours.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPointF, Qt
from PySide6.QtGui import QFont, QPainter, QPalette, QStaticText, QTransform
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from desk.ui.positions_model import PAINT_ROLE

# Flags as plain ints: Python enum arithmetic per cell costs more than the drawing.
_SELECTED = QStyle.StateFlag.State_Selected.value
_ENABLED = QStyle.StateFlag.State_Enabled.value
_ACTIVE = QStyle.StateFlag.State_Active.value
_RIGHT = Qt.AlignmentFlag.AlignRight.value
_HCENTER = Qt.AlignmentFlag.AlignHCenter.value
_HIGHLIGHT = QPalette.ColorRole.Highlight
_HIGHLIGHTED_TEXT = QPalette.ColorRole.HighlightedText
_TEXT = QPalette.ColorRole.Text
_ELIDE = Qt.TextElideMode.ElideMiddle
_KEPT_TEXTS = 8192  # laid-out texts kept per font: many screens of cells

_Laid = tuple[QStaticText, float, float]  # the text laid out, its width and height


def _group(state: int) -> QPalette.ColorGroup:
    """The palette group the default delegate paints a cell in."""
    if not state & _ENABLED:
        return QPalette.ColorGroup.Disabled
    return QPalette.ColorGroup.Active if state & _ACTIVE else QPalette.ColorGroup.Inactive


class CellPainter(QStyledItemDelegate):
    def __init__(self, view: QWidget) -> None:
        super().__init__(view)
        # the default delegate's text margin (QCommonStyle: focus frame margin + 1)
        self.margin = view.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, view) + 1
        self._base = QFont()  # the view's font the caches below were made for
        self._fonts: dict[int, tuple[QFont, QFont]] = {}  # id(cell font) -> (cell font, resolved)
        self._laid: dict[int, dict[tuple[str, int], _Laid]] = {}  # per font: (text, width) -> laid out

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        cell: Any = index.data(PAINT_ROLE)
        if cell is None:  # not a positions model: paint as Qt does
            super().paint(painter, option, index)
            return
        text, foreground, background, font, alignment = cell
        state = option.state.value
        rect = option.rect
        if state & _SELECTED:
            palette = option.palette
            group = _group(state)
            painter.fillRect(rect, palette.brush(group, _HIGHLIGHT))
            pen = palette.color(group, _HIGHLIGHTED_TEXT)
        else:
            if background is not None:
                painter.fillRect(rect, background)
            pen = foreground if foreground is not None else option.palette.color(_group(state), _TEXT)
        if not text:
            return
        base = option.font
        if base != self._base:  # the view's font changed (theme, zoom): lay out again
            self._base = base
            self._fonts.clear()
            self._laid.clear()
        if font is None:
            painter.setFont(base)
            slot = 0
        else:
            held = self._fonts.get(id(font))
            if held is None:  # the cell font is held here, so its id is never another font's
                held = self._fonts[id(font)] = (font, font.resolve(base))
            painter.setFont(held[1])
            slot = id(font)
        painter.setPen(pen)
        box = rect.adjusted(self.margin, 0, -self.margin, 0)
        width = box.width()
        static, text_width, text_height = self._laid_out(text, slot, painter, width)
        if alignment & _RIGHT:
            x = box.right() + 1 - text_width
        elif alignment & _HCENTER:
            x = box.left() + (width - text_width) / 2
        else:
            x = box.left()
        painter.drawStaticText(QPointF(x, box.top() + (box.height() - text_height) / 2), static)

    def _laid_out(self, text: str, slot: int, painter: QPainter, width: int) -> _Laid:
        """``text`` in the painter's font laid out once, elided in the middle to ``width``."""
        kept = self._laid.get(slot)
        if kept is None:
            kept = self._laid[slot] = {}
        laid = kept.get((text, width))
        if laid is None:
            if len(kept) > _KEPT_TEXTS:
                kept.clear()
            metrics = painter.fontMetrics()
            if metrics.horizontalAdvance(text) > width:
                text_shown = metrics.elidedText(text, _ELIDE, width)
            else:
                text_shown = text
            static = QStaticText(text_shown)
            static.setTextFormat(Qt.TextFormat.PlainText)
            static.prepare(QTransform(), painter.font())
            size = static.size()
            laid = kept[(text, width)] = (static, size.width(), size.height())
        return laid
