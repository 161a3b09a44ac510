"""The login page's HTML (a Jinja template; styled by the same theme as the dashboard)."""

LOGIN_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Sign in · spendscope</title>
  <link rel="stylesheet" href="/assets/00-bootswatch-flatly-5.3.3.min.css">
  <link rel="stylesheet" href="/assets/10-spendscope.css">
</head>
<body class="ss-login-body">
  <main class="ss-login card shadow-sm">
    <div class="card-body p-4">
      <div class="ss-brand mb-1"><span class="ss-brand-mark">$</span> spendscope</div>
      <p class="text-muted mb-4">Sign in to see spend, errors and latency.</p>
      {% if error %}
      <div class="alert alert-danger py-2" role="alert" id="login-error">{{ error }}</div>
      {% endif %}
      <form method="post" action="/login" id="login-form">
        <input type="hidden" name="csrf" value="{{ csrf }}">
        <input type="hidden" name="next" value="{{ next }}">
        <div class="mb-3">
          <label class="form-label" for="username">User name</label>
          <input class="form-control" id="username" name="username" autocomplete="username"
                 autofocus required>
        </div>
        <div class="mb-4">
          <label class="form-label" for="password">Password</label>
          <input class="form-control" id="password" name="password" type="password"
                 autocomplete="current-password" required>
        </div>
        <button class="btn btn-primary w-100" type="submit" id="login-submit">Sign in</button>
      </form>
    </div>
  </main>
</body>
</html>
"""
