from customers.management.commands._import import ImportCommand


class Command(ImportCommand):
    help = "Import products for a tenant from a CSV or JSONL file (optionally .gz)."
    kind = "products"
