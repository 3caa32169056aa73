"""The reference consumers: the seed's behaviour exactly as a Channels 4 project writes it.

TaskNotificationConsumer (/ws/tasks/):
- anonymous users are rejected by closing before accept (Daphne answers HTTP 403);
- on connect the socket joins group ``user_<id>``;
- ``{"action": "subscribe", "task_id": X}`` → group_add ``task_<X>``; ``unsubscribe`` → group_discard;
- group events ``task.update``/``task.complete``/``task.error``/``user.message``/``user.notification``/
  ``user.file`` are sent to the browser with send_json: the type with dots replaced by underscores,
  every other field kept in order.

Bad client input (non-JSON, non-object frames, a missing task_id) raises inside the consumer as it
would in the seed: Daphne then closes the socket with 1011. An event type without a handler raises
"No handler for message type" the same way. laurel deliberately answers the first with an error frame
and drops the second (docs/compat-e2e.md).

EchoConsumer (/ws/echo/) echoes text and binary frames; laurel only tunnels it to Daphne.
"""
from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer


class TaskNotificationConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope["user"]
        if not user.is_authenticated:
            await self.close()
            return
        self.user_group = f"user_{user.id}"
        self.task_groups = set()
        await self.channel_layer.group_add(self.user_group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if not hasattr(self, "user_group"):
            return
        await self.channel_layer.group_discard(self.user_group, self.channel_name)
        for group in self.task_groups:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        action = content.get("action")
        if action == "subscribe":
            group = f"task_{content['task_id']}"
            await self.channel_layer.group_add(group, self.channel_name)
            self.task_groups.add(group)
        elif action == "unsubscribe":
            group = f"task_{content['task_id']}"
            await self.channel_layer.group_discard(group, self.channel_name)
            self.task_groups.discard(group)

    async def _forward(self, event):
        await self.send_json({**event, "type": event["type"].replace(".", "_")})

    async def task_update(self, event):
        await self._forward(event)

    async def task_complete(self, event):
        await self._forward(event)

    async def task_error(self, event):
        await self._forward(event)

    async def user_message(self, event):
        await self._forward(event)

    async def user_notification(self, event):
        await self._forward(event)

    async def user_file(self, event):
        await self._forward(event)


class EchoConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        await self.accept()

    async def receive(self, text_data=None, bytes_data=None):
        if text_data is not None:
            await self.send(text_data=f"echo:{text_data}")
        else:
            await self.send(bytes_data=b"echo:" + bytes_data)
