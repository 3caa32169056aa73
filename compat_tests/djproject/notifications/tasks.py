"""The seed's Celery task (websocket-integration-guide.md "From Celery Task"), with N progress steps.

The message bodies and the async_to_sync(channel_layer.group_send) calls are the seed's own; the
only additions are the loop over ``steps`` and the ``step`` argument a test uses to tell frames apart.
"""
from asgiref.sync import async_to_sync
from celery import shared_task
from channels.layers import get_channel_layer


@shared_task(bind=True)
def my_long_task(self, steps=3):
    channel_layer = get_channel_layer()
    task_id = self.request.id

    for step in range(1, steps + 1):
        # Send progress update
        async_to_sync(channel_layer.group_send)(
            f"task_{task_id}",
            {
                "type": "task.update",
                "task_id": task_id,
                "status": "processing",
                "message": f"Processing step {step}...",
                "progress": step * 100 // (steps + 1),
            },
        )

        # Do work...

    # Send completion
    async_to_sync(channel_layer.group_send)(
        f"task_{task_id}",
        {
            "type": "task.complete",
            "task_id": task_id,
            "status": "completed",
            "message": "All done!",
            "result": {"some": "data"},
        },
    )
