from tests.support.dbus import dbus_session, notification_server, notify_monitor  # noqa: F401
from tests.support.push_services import (
    push_server,  # noqa: F401
    tls_interceptor,  # noqa: F401
)
from tests.support.secret_service import secret_service  # noqa: F401
