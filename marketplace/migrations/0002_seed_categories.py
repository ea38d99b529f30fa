from django.db import migrations

CATEGORIES = (
    ("Accounting", "accounting"),
    ("Payments", "payments"),
    ("Analytics", "analytics"),
    ("CRM", "crm"),
    ("Security", "security"),
    ("Developer tools", "developer-tools"),
)


def seed(apps, schema_editor):
    Category = apps.get_model("marketplace", "Category")
    for order, (name, slug) in enumerate(CATEGORIES):
        Category.objects.get_or_create(slug=slug, defaults={"name": name, "sort_order": order})


def unseed(apps, schema_editor):
    Category = apps.get_model("marketplace", "Category")
    Category.objects.filter(slug__in=[slug for _, slug in CATEGORIES], integrations__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("marketplace", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
