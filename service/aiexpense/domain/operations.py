"""The service's operation catalog: every named operation the expense service performs.

Catalogued names are bound to their Prometheus children when the collector is built
(``MetricsCollector(operations=Op.all())``), so recording them never calls ``labels()``.
Names are plain strings: ``Op.CREATE_EXPENSE`` is ``"create_expense"``.
"""

from __future__ import annotations


class Op:
    """Constants for the catalogued operations (the spec's 20 names plus the ones we perform)."""

    # Users
    AUTO_SIGNUP = "auto_signup"
    USER_EXISTS = "user_exists"
    GET_USER = "get_user"
    # Expenses
    CREATE_EXPENSE = "create_expense"
    GET_EXPENSES = "get_expenses"
    GET_EXPENSES_BY_DATE_RANGE = "get_expenses_by_date_range"
    UPDATE_EXPENSE = "update_expense"
    DELETE_EXPENSE = "delete_expense"
    GET_METRICS = "get_metrics"
    # Understanding messages
    PARSE_CONVERSATION = "parse_conversation"
    SUGGEST_CATEGORY = "suggest_category"
    CATEGORY_LOOKUP = "category_lookup"
    LIST_CATEGORIES = "list_categories"
    # Messaging webhooks, one per platform
    WEBHOOK_LINE_MESSAGE = "webhook_line_message"
    WEBHOOK_TELEGRAM_MESSAGE = "webhook_telegram_message"
    WEBHOOK_SLACK_MESSAGE = "webhook_slack_message"
    WEBHOOK_DISCORD_MESSAGE = "webhook_discord_message"
    WEBHOOK_WHATSAPP_MESSAGE = "webhook_whatsapp_message"
    WEBHOOK_MESSENGER_MESSAGE = "webhook_messenger_message"
    SEND_REPLY = "send_reply"
    # Infrastructure
    CACHE_GET = "cache_get"
    CACHE_SET = "cache_set"
    CACHE_INVALIDATE = "cache_invalidate"
    DB_QUERY = "db_query"
    DB_INSERT = "db_insert"
    DB_UPDATE = "db_update"
    DB_DELETE = "db_delete"

    @classmethod
    def all(cls) -> tuple[str, ...]:
        """Every catalogued name, in declaration order."""
        return tuple(v for k, v in vars(cls).items() if k.isupper() and isinstance(v, str))


def webhook_operation(platform: str) -> str:
    """The operation name of a platform's webhook: ``webhook_<platform>_message``."""
    return f"webhook_{platform}_message"
