"""Campaign delivery: email backend, links in messages, batching and retries."""

from config.env import env_bool, env_int, env_str

# Django's email backend: files under EMAIL_FILE_PATH by default (the demo can be read
# without a mail server); SMTP (EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend,
# EMAIL_HOST ...) or the console by environment.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", "var/mail")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "campaigns@localhost")

# Where customers reach the platform: unsubscribe links are built on it.
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

# Recipients claimed per batch; personalisation is computed once per batch.
CAMPAIGN_BATCH_SIZE = env_int("CAMPAIGN_BATCH_SIZE", 500)
# A failed send is retried (after CAMPAIGN_RETRY_SECONDS, doubling) until this many attempts.
CAMPAIGN_MAX_ATTEMPTS = env_int("CAMPAIGN_MAX_ATTEMPTS", 3)
CAMPAIGN_RETRY_SECONDS = env_int("CAMPAIGN_RETRY_SECONDS", 60)
# A sending campaign whose worker has not reported for this long is picked up again.
CAMPAIGN_STALE_AFTER_SECONDS = env_int("CAMPAIGN_STALE_AFTER_SECONDS", 120)
# Webhooks to private, loopback or link-local addresses are refused unless allowed (tests).
CAMPAIGN_WEBHOOK_ALLOW_PRIVATE = env_bool("CAMPAIGN_WEBHOOK_ALLOW_PRIVATE")
# One webhook POST: its timeout, and the attempts (with doubling backoff) before the batch's
# recipients count as one failed send each.
CAMPAIGN_WEBHOOK_TIMEOUT = env_int("CAMPAIGN_WEBHOOK_TIMEOUT", 5)
CAMPAIGN_WEBHOOK_ATTEMPTS = env_int("CAMPAIGN_WEBHOOK_ATTEMPTS", 3)
CAMPAIGN_WEBHOOK_BACKOFF_MS = env_int("CAMPAIGN_WEBHOOK_BACKOFF_MS", 500)
