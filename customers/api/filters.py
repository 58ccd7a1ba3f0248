import django_filters

from customers.ingest.validation import INTERACTION_KINDS
from customers.models import Customer, Interaction, Product
from tenants.pseudonyms import customer_ref, email_ref


class CustomerFilter(django_filters.FilterSet):
    updated_since = django_filters.IsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")
    email = django_filters.CharFilter(method="filter_email", help_text="Exact email address.")

    def filter_email(self, queryset, name: str, value: str):
        return queryset.filter(email=email_ref(self.request.auth.tenant, value))

    class Meta:
        model = Customer
        fields = ["email", "email_opt_in"]


class ProductFilter(django_filters.FilterSet):
    min_price = django_filters.NumberFilter(field_name="price", lookup_expr="gte")
    max_price = django_filters.NumberFilter(field_name="price", lookup_expr="lte")

    class Meta:
        model = Product
        fields = ["category", "is_active"]


class InteractionFilter(django_filters.FilterSet):
    customer = django_filters.CharFilter(method="filter_customer", help_text="External id.")
    product = django_filters.CharFilter(field_name="product__external_id", help_text="External id.")
    kind = django_filters.ChoiceFilter(choices=[(k, k) for k in INTERACTION_KINDS])
    since = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    def filter_customer(self, queryset, name: str, value: str):
        tenant = self.request.auth.tenant
        return queryset.filter(customer__external_id=customer_ref(tenant, value))

    class Meta:
        model = Interaction
        fields = ["customer", "product", "kind", "since", "until"]
