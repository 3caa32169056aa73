// Package devserver is everything `laurel dev` needs besides laurel itself:
// a Redis (the one already listening on the port, or an embedded
// alicebob/miniredis), a SQLite database with Django's django_session and
// auth_user tables and a demo user, and a small demo web application that
// signs the user in with a real Django database session and runs simulated
// tasks that report progress through the channel layer exactly as a Celery
// task does with channels_redis (group_send of task.update events, then
// task.complete, to the group task_<id>).
//
// The demo application is served to the browser through laurel itself: `laurel
// dev` runs the real laurel server with the demo application as its upstream,
// the way a Django project sits behind laurel in production.
//
// Everything Go writes to the database is what Django 4.2–6.x would write: the
// table definitions of Django's SQLite migrations, a pbkdf2_sha256 password
// hash (Django 5.2's 1,000,000 iterations), and session rows whose
// session_data is django.core.signing.dumps of the session dictionary under
// the salt "django.contrib.sessions.SessionStore", as
// django.contrib.sessions.backends.db.SessionStore saves them. A Django
// project whose settings point at the same SQLite file, SECRET_KEY and Redis
// (Env.DjangoSettings) shares the sessions and the channel layer.
package devserver
