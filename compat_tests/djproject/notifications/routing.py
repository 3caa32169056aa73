"""WebSocket URL routes: the seed's task consumer and an echo consumer laurel does not implement."""
from django.urls import path

from . import consumers

websocket_urlpatterns = [
    path("ws/tasks/", consumers.TaskNotificationConsumer.as_asgi()),
    path("ws/echo/", consumers.EchoConsumer.as_asgi()),
]
