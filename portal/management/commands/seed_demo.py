import json

from django.core.management.base import BaseCommand

from portal.demo import seed_demo


class Command(BaseCommand):
    help = "Create (or refresh) the demo users and organisations. Safe to run repeatedly."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print what exists as JSON for scripts.")

    def handle(self, *args, json: bool = False, **options):
        world = seed_demo()
        report = world.report
        if json:
            self.stdout.write(_dumps(report))
            return
        self.stdout.write(self.style.SUCCESS("Demo data is ready. Every demo user's password: " + report["password"]))
        for user in report["users"]:
            where = f" in {user['organization']}" if user["organization"] else ""
            self.stdout.write(f"  {user['email']:<26} {user['role']}{where}")
        for key in report.get("api_keys", []):
            self.stdout.write(f"  {key['name']:<26} {key['key']}")
        for app in report.get("oauth_applications", []):
            self.stdout.write(f"  {app['name']:<26} client_id={app['client_id']} client_secret={app['client_secret']}")


def _dumps(data) -> str:
    return json.dumps(data, indent=2)
