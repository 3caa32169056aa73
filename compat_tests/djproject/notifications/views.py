"""HTTP views the e2e suite drives (directly on Daphne, or through laurel --upstream).

- ``GET /login/`` renders a login form with Django's CSRF token; ``POST /login/`` (username, password)
  logs in and answers ``{"ok": true, "user_id": N}`` with the session cookie, or 401.
- ``POST /logout/`` flushes the session (the old cookie must then be refused by every server).
- ``POST /api/tasks/start/`` (logged in, CSRF-protected; optional ``steps``, ``countdown`` seconds)
  starts the seed's Celery task and answers ``{"task_id": ...}``.
- ``GET /api/whoami/`` answers the logged-in user, for checking the HTTP path keeps the session.
- ``GET /api/request-info/`` answers what Django saw of the request's origin (REMOTE_ADDR, Host and the
  X-Forwarded-* headers), for checking what a reverse proxy in front of Daphne adds.
"""
from django.contrib.auth import authenticate, login, logout
from django.http import HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.utils.html import escape
from django.views.decorators.http import require_http_methods, require_POST

from .tasks import my_long_task


@require_http_methods(["GET", "POST"])
def login_view(request):
    if request.method == "GET":
        token = escape(get_token(request))
        return HttpResponse(
            '<form method="post">'
            f'<input type="hidden" name="csrfmiddlewaretoken" value="{token}">'
            '<input name="username"><input name="password" type="password">'
            "<button>Log in</button></form>"
        )
    user = authenticate(request, username=request.POST.get("username"), password=request.POST.get("password"))
    if user is None:
        return JsonResponse({"ok": False}, status=401)
    login(request, user)
    return JsonResponse({"ok": True, "user_id": user.pk})


@require_POST
def logout_view(request):
    logout(request)
    return JsonResponse({"ok": True})


@require_POST
def start_task(request):
    if not request.user.is_authenticated:
        return JsonResponse({"error": "login required"}, status=403)
    steps = int(request.POST.get("steps", "3"))
    countdown = float(request.POST.get("countdown", "0"))
    result = my_long_task.apply_async(kwargs={"steps": steps}, countdown=countdown or None)
    return JsonResponse({"task_id": result.id})


def whoami(request):
    if not request.user.is_authenticated:
        return JsonResponse({"authenticated": False})
    return JsonResponse({"authenticated": True, "user_id": request.user.pk, "username": request.user.username})


def request_info(request):
    meta = request.META
    return JsonResponse(
        {
            "remote_addr": meta.get("REMOTE_ADDR"),
            "host": meta.get("HTTP_HOST"),
            "x_forwarded_for": meta.get("HTTP_X_FORWARDED_FOR"),
            "x_forwarded_proto": meta.get("HTTP_X_FORWARDED_PROTO"),
            "x_forwarded_host": meta.get("HTTP_X_FORWARDED_HOST"),
        }
    )
