"""The Channel Layer Specification's sections and the sentences more than one check quotes (django/channels
``docs/channel_layer_spec.rst``); a sentence only one check quotes stands at that check."""

from __future__ import annotations

S_MESSAGES = "Channel Layer Specification §Overview/Messages"
S_CHANNELS = "Channel Layer Specification §Overview/Channels"
S_CAPACITY = "Channel Layer Specification §Overview/Capacity"
S_ASYNC = "Channel Layer Specification §Overview/Asynchronous Support"
S_ABSTRACT = "Channel Layer Specification §Abstract"
S_DETAILS = "Channel Layer Specification §Specification Details"
S_SEMANTICS = "Channel Layer Specification §Channel Semantics"
S_PERSISTENCE = "Channel Layer Specification §Persistence"
S_ORDERING = "Channel Layer Specification §Approximate Global Ordering"
S_STRINGS = "Channel Layer Specification §Strings and Unicode"

Q_SEND = (
    "``coroutine send(channel, message)``, that takes two arguments: the channel to send on, as a unicode string, "
    "and the message to send, as a serializable ``dict``."
)
Q_RECEIVE = (
    "``coroutine receive(channel)``, that takes a single channel name and returns the next received message on "
    "that channel."
)
Q_NEW_CHANNEL = (
    "``coroutine new_channel()``, which returns a new process-specific channel that can be used to give to a local "
    "coroutine or receiver."
)
Q_NAME_LENGTH = "Have a maximum name length of at least 100 bytes."
Q_CHARS = (
    "Channels are identified by a unicode string name consisting only of ASCII letters, ASCII numerical digits, "
    "periods (``.``), dashes (``-``) and underscores (``_``), plus an optional type character (see below)."
)
Q_TYPES = "Messages must be a ``dict``."
Q_1MB = (
    "All channel layers must support messages up to this size, but channel layer users are encouraged to keep well "
    "below it."
)
Q_FIFO = (
    "Preserve ordering of messages perfectly with only a single reader and writer if the channel is a "
    "*single-reader* or *process-specific* channel."
)
Q_ONCE = (
    "Implementations must never deliver a message more than once or to more than one reader, and must drop messages "
    "if this is necessary to achieve this restriction."
)
Q_NO_BLOCK = "Never block on message send (though they may raise ChannelFull or MessageTooLarge)"
Q_RATIO = (
    "They are not expected to deliver all messages, but a success rate of at least 99.99% is expected under normal "
    "circumstances."
)
Q_IPC = (
    "They allow inter-process communication between different processes to help build applications that have "
    "messaging and events between different clients."
)
Q_FULL = (
    "When a channel is at or over capacity, trying to send() to that channel may raise ChannelFull, which indicates "
    "to the sender the channel is over capacity."
)
Q_GROUP_FULL = (
    "Sending to a group never raises ChannelFull; instead, it must silently drop the message if it is over capacity, "
    "as per ASGI's at-most-once delivery policy."
)
Q_GROUP_ADD = (
    "``coroutine group_add(group, channel)``, that takes a ``channel`` and adds it to the group given by ``group``. "
    "Both are unicode strings. If the channel is already in the group, the function should return normally."
)
Q_GROUP_DISCARD = (
    "``coroutine group_discard(group, channel)``, that removes the ``channel`` from the ``group`` if it is in it, "
    "and does nothing otherwise."
)
Q_GROUP_SEND = (
    "``coroutine group_send(group, message)``, that takes two positional arguments; the group to send to, as a "
    "unicode string, and the message to send, as a serializable ``dict``."
)
Q_GROUP_EXPIRY = (
    "Channel layers must also drop group membership after a configurable long timeout after the most recent "
    "``group_add`` call for that membership, the default being 86,400 seconds (one day)."
)
Q_EXPIRY = "Messages should expire after a set time sitting unread in a channel;"
Q_FLUSH = (
    "``coroutine flush()``, that resets the channel layer to a blank state, containing no messages and no groups "
    "(if the groups extension is implemented)."
)
Q_FLUSH_DISTRIBUTED = (
    "This call must block until the system is cleared and will consistently look empty to any client, if the "
    "channel layer is distributed."
)
Q_FAIR = "they should strive to prevent busy channels from overpowering quiet channels."
Q_TOO_LARGE = (
    "``MessageTooLarge``, the exception raised when a send operation fails because the encoded message is over "
    "the layer's size limit."
)
Q_NAMES_RESTRICTED = (
    "Channel and group names are always unicode strings, with the additional limitation that they only use the "
    "following characters:"
)
