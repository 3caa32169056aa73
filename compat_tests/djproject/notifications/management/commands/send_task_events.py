"""Send the seed's task events to ``task_<id>`` with the seed's unchanged code (the "From CLI" path).

    python manage.py send_task_events TASK_ID [--steps N] [--error]
"""
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "group_send task.update ×N then task.complete (or task.error) to task_<TASK_ID>"

    def add_arguments(self, parser):
        parser.add_argument("task_id")
        parser.add_argument("--steps", type=int, default=2)
        parser.add_argument("--error", action="store_true", help="finish with task.error instead")

    def handle(self, *args, task_id, steps, error, **options):
        channel_layer = get_channel_layer()

        for step in range(1, steps + 1):
            async_to_sync(channel_layer.group_send)(
                f"task_{task_id}",
                {
                    "type": "task.update",
                    "task_id": task_id,
                    "status": "processing",
                    "message": "Processing 1500 records...",
                    "progress": 45 + step,
                    "data": {},
                },
            )

        if error:
            async_to_sync(channel_layer.group_send)(
                f"task_{task_id}",
                {
                    "type": "task.error",
                    "task_id": task_id,
                    "error": "Database connection failed",
                    "message": "An error occurred",
                },
            )
            return

        async_to_sync(channel_layer.group_send)(
            f"task_{task_id}",
            {
                "type": "task.complete",
                "task_id": task_id,
                "status": "completed",
                "message": "Completed: 1500 created, 0 updated",
                "result": {"created": 1500, "updated": 0, "errors": 0},
            },
        )
