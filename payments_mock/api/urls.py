from django.urls import path

from payments_mock.api import ledger, subscriptions, treasury, views

app_name = "payments-api"

urlpatterns = [
    path("customers", views.CustomerListCreateView.as_view(), name="customer-list"),
    path("customers/<str:customer_id>", views.CustomerDetailView.as_view(), name="customer-detail"),
    path("tokens", views.TokenCreateView.as_view(), name="token-create"),
    path("test-cards", views.TestCardListView.as_view(), name="test-cards"),
    path("payments", views.PaymentListCreateView.as_view(), name="payment-list"),
    path("payments/<str:payment_id>", views.PaymentDetailView.as_view(), name="payment-detail"),
    path("payments/<str:payment_id>/confirm", views.PaymentConfirmView.as_view(), name="payment-confirm"),
    path("payments/<str:payment_id>/capture", views.PaymentCaptureView.as_view(), name="payment-capture"),
    path("payments/<str:payment_id>/cancel", views.PaymentCancelView.as_view(), name="payment-cancel"),
    path("refunds", views.RefundListCreateView.as_view(), name="refund-list"),
    path("refunds/<str:refund_id>", views.RefundDetailView.as_view(), name="refund-detail"),
    path("fx/rates", treasury.FxRatesView.as_view(), name="fx-rates"),
    path("fx/convert", treasury.FxConvertView.as_view(), name="fx-convert"),
    path("fx/quotes", treasury.FxQuoteCreateView.as_view(), name="fx-quote-create"),
    path("fx/quotes/<str:quote_id>", treasury.FxQuoteDetailView.as_view(), name="fx-quote-detail"),
    path("fx/conversions", treasury.FxConversionCreateView.as_view(), name="fx-conversion-create"),
    path("credit/scores", treasury.CreditScoreView.as_view(), name="credit-score"),
    path("bank_accounts", treasury.BankAccountListCreateView.as_view(), name="bank-account-list"),
    path("bank_accounts/<str:bank_account_id>", treasury.BankAccountDetailView.as_view(), name="bank-account-detail"),
    path(
        "bank_accounts/<str:bank_account_id>/verify",
        treasury.BankAccountVerifyView.as_view(),
        name="bank-account-verify",
    ),
    path("transactions", ledger.TransactionListView.as_view(), name="transaction-list"),
    path("transactions/export", ledger.TransactionExportView.as_view(), name="transaction-export"),
    path("sandbox/reset", ledger.SandboxResetView.as_view(), name="sandbox-reset"),
    path("sandbox/sample_data", ledger.SandboxSampleDataView.as_view(), name="sandbox-sample-data"),
    path("reports/<str:report>", ledger.ReportView.as_view(), name="report"),
    path("products", subscriptions.ProductListCreateView.as_view(), name="product-list"),
    path("products/<str:product_id>", subscriptions.ProductDetailView.as_view(), name="product-detail"),
    path("prices", subscriptions.PriceListCreateView.as_view(), name="price-list"),
    path("prices/<str:price_id>", subscriptions.PriceDetailView.as_view(), name="price-detail"),
    path("subscriptions", subscriptions.SubscriptionListCreateView.as_view(), name="subscription-list"),
    path(
        "subscriptions/<str:subscription_id>",
        subscriptions.SubscriptionDetailView.as_view(),
        name="subscription-detail",
    ),
    path(
        "subscriptions/<str:subscription_id>/cancel",
        subscriptions.SubscriptionCancelView.as_view(),
        name="subscription-cancel",
    ),
    path("invoices", subscriptions.InvoiceListView.as_view(), name="invoice-list"),
    path("invoices/<str:invoice_id>", subscriptions.InvoiceDetailView.as_view(), name="invoice-detail"),
    path("invoices/<str:invoice_id>/pay", subscriptions.InvoicePayView.as_view(), name="invoice-pay"),
    path("test_clock", subscriptions.TestClockView.as_view(), name="test-clock"),
]
