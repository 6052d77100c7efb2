"""The positions table's cell painter draws what the model's roles say: the tint, the selection,
the text in its colour and font, elided in the middle when the column is too narrow."""

from __future__ import annotations

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QFontMetrics, QImage, QPainter, QPalette
from PySide6.QtWidgets import QStyle, QStyleOptionViewItem, QTableView

from desk.services.alerts_config import Thresholds
from desk.ui.cell_painter import CellPainter
from desk.ui.levels import global_thresholds
from desk.ui.positions_model import PAINT_ROLE, Column, PositionsModel
from tests.support.ui import position, snapshot

ROLES = (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ForegroundRole, Qt.ItemDataRole.BackgroundRole,
         Qt.ItemDataRole.FontRole, Qt.ItemDataRole.TextAlignmentRole)


def table(qtbot):  # type: ignore[no-untyped-def]
    model = PositionsModel(global_thresholds(Thresholds()), clock=lambda: 1_000_000.0)
    model.apply_snapshot(snapshot([position("CRIT/USDT:USDT", mark=100.0, liquidation=97.0),
                                   position("A-LONG-SYMBOL-NAME/USDT:USDT", mark=100.0, liquidation=60.0)],
                                  at=1_000_000.0))
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    return model, view, CellPainter(view)


def paint(view: QTableView, painter: CellPainter, row: int, column: Column, *, width: int = 160,
          selected: bool = False) -> QImage:
    image = QImage(width, 24, QImage.Format.Format_ARGB32)
    image.fill(QColor("white"))
    option = QStyleOptionViewItem()
    option.initFrom(view)
    option.rect = QRect(0, 0, width, 24)
    option.font = view.font()
    option.state = option.state | QStyle.StateFlag.State_Enabled | QStyle.StateFlag.State_Active
    if selected:
        option.state = option.state | QStyle.StateFlag.State_Selected
    with_painter = QPainter(image)
    painter.paint(with_painter, option, view.model().index(row, column))
    with_painter.end()
    return image


def colours(image: QImage) -> set[int]:
    return {image.pixel(x, y) for x in range(image.width()) for y in range(image.height())}


def test_the_paint_role_is_the_painted_roles_of_the_cell(qtbot) -> None:  # type: ignore[no-untyped-def]
    model, _, _ = table(qtbot)
    for row in range(model.rowCount()):
        for column in Column:
            index = model.index(row, column)
            assert index.data(PAINT_ROLE) == tuple(index.data(role) for role in ROLES)


def test_a_critical_status_cell_is_tinted_and_written_in_the_critical_colour(qtbot) -> None:  # type: ignore[no-untyped-def]
    model, view, painter = table(qtbot)
    row = next(i for i, r in enumerate(model.rows()) if r.risk.symbol == "CRIT/USDT:USDT")
    text, foreground, background, font, _ = model.index(row, Column.STATUS).data(PAINT_ROLE)
    assert "CRIT" in text and foreground is not None and background is not None and font.bold()
    image = paint(view, painter, row, Column.STATUS)
    tint = QColor("white")
    tint = QColor.fromRgbF(*(b * background.alphaF() + w * (1 - background.alphaF()) for b, w in
                             zip(background.getRgbF()[:3], tint.getRgbF()[:3], strict=True)))
    seen = colours(image)
    assert QColor(image.pixel(image.width() - 1, 0)).name() == tint.name()  # the tint fills the cell
    assert foreground.rgb() in seen  # the text's solid pixels are in its colour
    # selected: the highlight instead of the tint, the text in the highlighted-text colour
    selected = paint(view, painter, row, Column.STATUS, selected=True)
    palette = view.palette()
    group = QPalette.ColorGroup.Active
    highlight = palette.color(group, QPalette.ColorRole.Highlight)
    assert QColor(selected.pixel(selected.width() - 1, 0)).rgb() == highlight.rgb()
    assert palette.color(group, QPalette.ColorRole.HighlightedText).rgb() in colours(selected)
    assert foreground.rgb() not in colours(selected)


def test_a_text_too_wide_for_its_column_is_elided_in_the_middle(qtbot) -> None:  # type: ignore[no-untyped-def]
    model, view, painter = table(qtbot)
    row = next(i for i, r in enumerate(model.rows()) if r.risk.symbol.startswith("A-LONG"))
    metrics = QFontMetrics(view.font())
    whole = metrics.horizontalAdvance("A-LONG-SYMBOL-NAME/USDT:USDT")
    narrow = whole // 2
    image = QImage(narrow, 24, QImage.Format.Format_ARGB32)
    with_painter = QPainter(image)
    with_painter.setFont(view.font())
    static, width, _ = painter._laid_out("A-LONG-SYMBOL-NAME/USDT:USDT", 0, with_painter, narrow)
    roomy, roomy_width, _ = painter._laid_out("A-LONG-SYMBOL-NAME/USDT:USDT", 0, with_painter, whole + 10)
    with_painter.end()
    assert static.text().startswith("A-LO") and static.text().endswith("DT") and "…" in static.text()
    assert width <= narrow
    assert roomy.text() == "A-LONG-SYMBOL-NAME/USDT:USDT" and abs(roomy_width - whole) < 1  # fractional
    # painted: ink on the left and on the right half of the narrow cell (not cut off at the edge)
    image = paint(view, painter, row, Column.SYMBOL, width=narrow + 2 * painter.margin)
    ink = [x for x in range(image.width()) for y in range(image.height())
           if QColor(image.pixel(x, y)).lightness() < 128]
    assert min(ink) < image.width() // 4 and max(ink) > image.width() * 3 // 4
