from tests.support.dbus import dbus_session, notification_server, notify_monitor  # noqa: F401
