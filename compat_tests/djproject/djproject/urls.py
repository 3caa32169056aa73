"""HTTP routes: login/logout forms and the view that starts the seed's Celery task."""
from django.urls import path

from notifications import views

urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("api/tasks/start/", views.start_task, name="start-task"),
    path("api/whoami/", views.whoami, name="whoami"),
    path("api/request-info/", views.request_info, name="request-info"),
]
