from django import template

from portal.lib.money import MoneyError, format_money

register = template.Library()


@register.simple_tag
def money(amount: int, currency: str) -> str:
    try:
        return format_money(amount, currency)
    except MoneyError:
        return f"{amount} {currency}"
