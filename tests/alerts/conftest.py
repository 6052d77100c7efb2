from tests.support.dbus import dbus_session, notification_server, notify_monitor  # noqa: F401
from tests.support.push_services import push_server  # noqa: F401
