"""The message bus between the stages: video/telemetry -> warning models -> alerts -> console.

It sits beside the stages, not inside one: every stage publishes and subscribes through it, and
it imports none of them. ``publish(topic, message)``, ``subscribe(topic, handler)``,
``consume(topic, group, handler)``, ``stop()``: the in-process bus (:mod:`zhizhi.bus.memory`)
and the Redis bus (:mod:`zhizhi.bus.redis_bus`, across processes) are interchangeable.

Each topic (:class:`Topic`) carries one message type (:mod:`zhizhi.bus.messages`): publishers
hand typed, frozen messages, subscribers receive them typed, and a message of another type is
refused at ``publish`` (``TypeError``).
"""

from zhizhi.bus.memory import Bus, Cancellable, Handler, InProcessBus, Message, Subscription
from zhizhi.bus.topics import Topic

__all__ = ["Bus", "Cancellable", "Handler", "InProcessBus", "Message", "Subscription", "Topic"]
