"""The settings dialog, generated from the option declarations (desk.store.settings.OPTIONS).

One tab per group, one row per option: a check box for bool, a list for choices, a text field
for numbers and text (parsed and validated by the option itself, so the dialog and
``desk config set`` accept and reject exactly the same values, with the same message naming
the key). Rules between options are desk.store.settings.RULES, the ones every other writer uses.
Nothing is written unless every field is valid.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desk.store.settings import GROUP_LABELS, GROUPS, OPTIONS, Option, SettingsError, broken_rules

_INVALID_STYLE = "border: 2px solid #D55E00;"

Editor = QCheckBox | QComboBox | QLineEdit


class SettingsDialog(QDialog):
    def __init__(self, settings: Any, parent: QWidget | None = None,
                 options: tuple[Option, ...] = OPTIONS) -> None:
        super().__init__(parent)
        self.setWindowTitle("desk — settings")
        self.settings = settings
        self.options = options
        self.editors: dict[str, Editor] = {}
        self.tabs = QTabWidget()
        groups = [g for g in GROUPS if any(o.group == g for o in options)]
        for group in groups:
            self.tabs.addTab(self._group_page(group), GROUP_LABELS.get(group, group.title()))
        self.errors = QLabel("")
        self.errors.setWordWrap(True)
        self.errors.setStyleSheet("color: #D55E00; font-weight: 600;")
        self.errors.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                   | QDialogButtonBox.StandardButton.Cancel
                                   | QDialogButtonBox.StandardButton.RestoreDefaults)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        restore = buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults)
        restore.setText("Restore tab defaults")
        restore.clicked.connect(self.restore_tab_defaults)
        self.buttons = buttons
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.errors)
        layout.addWidget(buttons)
        issues = list(getattr(settings, "issues", None) or [])
        if issues:  # a damaged file: say what is not in use (the fields show the defaults used instead)
            self.errors.setText("The settings file has problems; everything else in it is in use:\n"
                                + "\n".join(f"• {issue}" for issue in issues[:10])
                                + (f"\n… and {len(issues) - 10} more" if len(issues) > 10 else ""))
        reason = getattr(settings, "read_only_reason", None)
        if reason:
            self.errors.setText(f"Settings cannot be saved: {reason}")
            buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(False)
        self.resize(640, 520)

    # -- building --------------------------------------------------------------------------

    def _group_page(self, group: str) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for opt in (o for o in self.options if o.group == group):
            editor = self._editor(opt)
            self.editors[opt.key] = editor
            unit = "%" if opt.percent else opt.unit
            label = QLabel(f"{opt.label}" + (f" ({unit})" if unit else ""))
            tip = f"{opt.help}\n\nKey: {opt.key} — {opt.allowed()}; default {opt.format(opt.default)}"
            label.setToolTip(tip)
            editor.setToolTip(tip)
            form.addRow(label, editor)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(page)
        return scroll

    def _editor(self, opt: Option) -> Editor:
        value = self.settings.get(opt.key)
        editor: Editor
        if opt.type is bool:
            editor = QCheckBox()
            editor.setChecked(bool(value))
        elif opt.choices:
            editor = QComboBox()
            editor.addItems(list(opt.choices))
            editor.setCurrentText(str(value))
        else:
            editor = QLineEdit(opt.format_percent(value) if opt.percent else opt.format(value))
            editor.setPlaceholderText("a percent" if opt.percent else opt.allowed())
            if opt.secret:
                editor.setEchoMode(QLineEdit.EchoMode.Password)
        editor.setObjectName(opt.key)
        return editor

    def _set_editor(self, opt: Option, value: Any) -> None:
        editor = self.editors[opt.key]
        if isinstance(editor, QCheckBox):
            editor.setChecked(bool(value))
        elif isinstance(editor, QComboBox):
            editor.setCurrentText(str(value))
        else:
            editor.setText(opt.format_percent(value) if opt.percent else opt.format(value))

    # -- values ----------------------------------------------------------------------------

    def value_of(self, opt: Option) -> Any:
        """The editor's value, validated by the option (SettingsError names the key)."""
        editor = self.editors[opt.key]
        if isinstance(editor, QCheckBox):
            return opt.validate(editor.isChecked())
        if isinstance(editor, QComboBox):
            return opt.validate(editor.currentText())
        if opt.percent:
            return opt.parse_percent(editor.text())
        return opt.parse(editor.text())

    def collect(self) -> tuple[dict[str, Any], list[str]]:
        values: dict[str, Any] = {}
        problems: list[str] = []
        for opt in self.options:
            editor = self.editors[opt.key]
            try:
                values[opt.key] = self.value_of(opt)
                editor.setStyleSheet("")
            except SettingsError as exc:
                problems.append(str(exc))
                editor.setStyleSheet(_INVALID_STYLE)
        if not problems:
            problems.extend(self._cross_checks(values))
        return values, problems

    def _cross_checks(self, values: dict[str, Any]) -> list[str]:
        """The rules that span options (desk.store.settings.RULES — the same ones ``desk config set``
        and the loader enforce), checked on the values as they would be saved; their fields are
        marked."""

        def get(key: str) -> Any:
            return values[key] if key in values else self.settings.get(key)

        problems = []
        for rule in broken_rules(get):
            problems.append(rule.explain(get))
            for key in rule.keys:
                if key in self.editors:
                    self.editors[key].setStyleSheet(_INVALID_STYLE)
        return problems

    def save(self) -> None:
        values, problems = self.collect()
        if problems:
            self.errors.setText("Not saved — fix these first:\n" + "\n".join(f"• {p}" for p in problems))
            self._show_first_problem()
            return
        try:
            self.settings.update({key: value for key, value in values.items()
                                  if value != self.settings.get(key)})
            self.settings.save()
        except (SettingsError, OSError) as exc:
            self.errors.setText(f"Not saved: {exc}")
            return
        self.accept()

    def _show_first_problem(self) -> None:
        for opt in self.options:
            editor = self.editors[opt.key]
            if editor.styleSheet() == _INVALID_STYLE:
                for index in range(self.tabs.count()):
                    page = self.tabs.widget(index)
                    if page is not None and page.isAncestorOf(editor):
                        self.tabs.setCurrentIndex(index)
                        break
                editor.setFocus()
                return

    def restore_tab_defaults(self) -> None:
        page = self.tabs.currentWidget()
        if page is None:
            return
        for opt in self.options:
            if page.isAncestorOf(self.editors[opt.key]):
                self._set_editor(opt, opt.default)
