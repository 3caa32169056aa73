"""Send ``user.*`` events to ``user_<id>``, a direct send to one socket's channel, or a raw event.

    python manage.py send_user_events --user-id 1 [--count N]      # user.message/notification/file ×N
    python manage.py send_user_events --channel specific.xxx!yyy   # channel_layer.send(channel, ...)
    python manage.py send_user_events --user-id 1 --raw-type some.unknown   # an event nobody handles
    python manage.py send_user_events --group G --count 50 --type task.update   # fan-out load

Each message carries ``seq`` so a client can check order and loss.
"""
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "send user.* events to user_<id>, or a direct channel_layer.send to a channel name"

    def add_arguments(self, parser):
        parser.add_argument("--user-id")
        parser.add_argument("--channel")
        parser.add_argument("--group")
        parser.add_argument("--count", type=int, default=1)
        parser.add_argument("--raw-type", help="send one event of this type (e.g. an unhandled one)")
        parser.add_argument("--type", default="task.update", help="event type for --group")

    def handle(self, *args, user_id, channel, group, count, raw_type, type, **options):
        channel_layer = get_channel_layer()
        send = async_to_sync(channel_layer.send)
        group_send = async_to_sync(channel_layer.group_send)

        if channel:
            for seq in range(count):
                send(channel, {"type": "user.message", "text": "direct to your socket", "seq": seq})
            return
        if group:
            for seq in range(count):
                group_send(group, {"type": type, "task_id": group, "status": "processing", "seq": seq})
            return
        if not user_id:
            raise CommandError("one of --user-id, --channel, --group is required")
        target = f"user_{user_id}"
        if raw_type:
            group_send(target, {"type": raw_type, "seq": 0})
            return
        for seq in range(count):
            group_send(target, {"type": "user.message", "text": "Hello from the shell", "sender": "admin", "seq": seq})
            group_send(
                target,
                {"type": "user.notification", "title": "Report ready", "level": "info", "unread": 3, "seq": seq},
            )
            group_send(
                target,
                {"type": "user.file", "filename": "informe-año.pdf", "url": "/media/r.pdf", "size": 12345, "seq": seq},
            )
