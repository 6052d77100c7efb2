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
# example values for the text options whose default is empty (the others show their default)
_EXAMPLES = {"alerts.quiet_hours": "23:00-07:00", "alerts.webhook_url": "https://hooks.example.com/desk"}


def _placeholder(opt: Option) -> str:
    """What an empty field shows: an example of a value it takes."""
    if opt.key in _EXAMPLES:
        return f"e.g. {_EXAMPLES[opt.key]} (empty: off)"
    if opt.percent:
        return f"e.g. {opt.format_percent(opt.default)}"
    return f"e.g. {opt.format(opt.default)} — {opt.allowed()}"


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
        # a group of one option is no tab of its own: it joins the tab before it, under its name
        form: QFormLayout | None = None
        for group in groups:
            label = GROUP_LABELS.get(group, group.title())
            alone = sum(o.group == group for o in options) == 1
            if form is None or not alone:
                form = self._new_tab(label)
            else:
                heading = QLabel(f"<b>{label}</b>")
                heading.setContentsMargins(0, 10, 0, 0)
                form.addRow(heading)
            self._add_group(form, group)
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

    def _new_tab(self, label: str) -> QFormLayout:
        page = QWidget()
        form = QFormLayout(page)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(page)
        self.tabs.addTab(scroll, label)
        return form

    def _add_group(self, form: QFormLayout, group: str) -> None:
        for opt in (o for o in self.options if o.group == group):
            editor = self._editor(opt)
            self.editors[opt.key] = editor
            unit = "%" if opt.percent else opt.unit
            label = QLabel(f"{opt.label}" + (f" ({unit})" if unit else ""))
            tip = f"{opt.help}\n\nKey: {opt.key} — {opt.allowed()}; default {opt.format(opt.default)}"
            label.setToolTip(tip)
            editor.setToolTip(tip)
            form.addRow(label, editor)
        if group == "alerts" and hasattr(self.settings, "channels"):
            from desk.ui.channels_panel import ChannelsPanel

            # URLs masked; "Send test alert"
            self.channels_panel = ChannelsPanel(self.settings, form.parentWidget())
            form.addRow(self.channels_panel)

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
            editor.setPlaceholderText(_placeholder(opt))
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
                problems.append(self._in_labels(str(exc)))
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
            problems.append(self._in_labels(rule.explain(get)))
            for key in rule.keys:
                if key in self.editors:
                    self.editors[key].setStyleSheet(_INVALID_STYLE)
        return problems

    def _in_labels(self, message: str) -> str:
        """A message as the dialog shows it: each option by the label beside its field, not its
        key (the key stays in the field's tooltip, for the command line)."""
        for opt in sorted(self.options, key=lambda o: -len(o.key)):
            message = message.replace(opt.key, f"“{opt.label}”")
        return message

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
