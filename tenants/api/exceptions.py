"""Domain errors map to HTTP in this one place, so views carry no try/except ladders."""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError, InterfaceError, OperationalError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from tenants.errors import DomainError

logger = logging.getLogger(__name__)


def _body(message: str, code: str, details: object | None = None) -> dict:
    body: dict = {"detail": message, "code": code}
    if details is not None:
        body["errors"] = details
    return body


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, DomainError):
        response = Response(_body(exc.message, exc.code, exc.details), status=exc.status_code)
        if exc.status_code == status.HTTP_503_SERVICE_UNAVAILABLE:
            response["Retry-After"] = "5"
        return response
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        )
    if isinstance(exc, IntegrityError):
        return Response(
            _body("The request conflicts with existing data.", "conflict"),
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, OperationalError | InterfaceError):
        # The database is down, restarting or chose this request as a deadlock victim.
        response = Response(
            _body("The database is briefly unavailable; retry shortly.", "unavailable"),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
        response["Retry-After"] = "5"
        return response
    if isinstance(exc, DataError):
        # The database's own message quotes the SQL: keep it in the logs, not the answer.
        logger.info("data error answered 400: %s", exc)
        return Response(
            _body("Invalid value: the database cannot store it (text with NUL characters or "
                  "invalid Unicode, or a number out of range).", "invalid"),
            status=400,
        )  # fmt: skip
    if isinstance(exc, exceptions.ValidationError):
        return Response(
            _body("Invalid input.", "invalid", exc.detail), status=status.HTTP_400_BAD_REQUEST
        )
    if isinstance(exc, exceptions.Throttled):
        # DRF's handler sets Retry-After from the throttle's wait; the body gets the usual shape.
        response = drf_exception_handler(exc, context)
        response.data = _body(str(exc.detail), "throttled")
        return response
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and "code" not in response.data:
        # 401, 403, 404, 405, 406, 415: the same {detail, code} body as every other error.
        code = getattr(response.data.get("detail"), "code", None) or _STATUS_CODES.get(
            response.status_code, "error"
        )
        response.data = _body(str(response.data.get("detail", "")), code)
    return response


_STATUS_CODES = {401: "not_authenticated", 403: "permission_denied", 404: "not_found"}
