"""An operation catalog for the kit's tests: a made-up shop's 27 names, as a service would
pass its own (``MetricsCollector(operations=Op.all())``). The kit knows none of them."""

from __future__ import annotations


class Op:
    AUTO_SIGNUP = "auto_signup"
    USER_EXISTS = "user_exists"
    GET_USER = "get_user"
    CREATE_ORDER = "create_order"
    LIST_ORDERS = "list_orders"
    LIST_ORDERS_BY_DATE = "list_orders_by_date"
    UPDATE_ORDER = "update_order"
    CANCEL_ORDER = "cancel_order"
    GET_REPORT = "get_report"
    PARSE_CONVERSATION = "parse_conversation"
    SUGGEST_ITEM = "suggest_item"
    ITEM_LOOKUP = "item_lookup"
    LIST_ITEMS = "list_items"
    WEBHOOK_LINE_MESSAGE = "webhook_line_message"
    WEBHOOK_TELEGRAM_MESSAGE = "webhook_telegram_message"
    WEBHOOK_SLACK_MESSAGE = "webhook_slack_message"
    WEBHOOK_DISCORD_MESSAGE = "webhook_discord_message"
    WEBHOOK_WHATSAPP_MESSAGE = "webhook_whatsapp_message"
    WEBHOOK_MESSENGER_MESSAGE = "webhook_messenger_message"
    SEND_REPLY = "send_reply"
    CACHE_GET = "cache_get"
    CACHE_SET = "cache_set"
    CACHE_INVALIDATE = "cache_invalidate"
    DB_QUERY = "db_query"
    DB_INSERT = "db_insert"
    DB_UPDATE = "db_update"
    DB_DELETE = "db_delete"

    @classmethod
    def all(cls) -> tuple[str, ...]:
        return tuple(v for k, v in vars(cls).items() if k.isupper() and isinstance(v, str))
