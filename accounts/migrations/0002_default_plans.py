from django.db import migrations

PLANS = [
    # code, name, requests per hour, burst, monthly price (minor units), default
    ("free", "Free", 1_000, 100, 0, True),
    ("pro", "Pro", 20_000, 1_000, 4_900, False),
    ("enterprise", "Enterprise", 200_000, 10_000, 49_900, False),
]


def create_plans(apps, schema_editor):
    Plan = apps.get_model("accounts", "Plan")
    for order, (code, name, per_hour, burst, price, default) in enumerate(PLANS):
        Plan.objects.update_or_create(
            code=code,
            defaults={
                "name": name,
                "requests_per_hour": per_hour,
                "burst": burst,
                "monthly_price_minor": price,
                "currency": "USD",
                "is_default": default,
                "sort_order": order,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]
    operations = [migrations.RunPython(create_plans, migrations.RunPython.noop)]
