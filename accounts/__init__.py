"""Accounts: console users, their roles, passwords, sessions, API tokens and login throttling
(docs/architecture.md §2, §11).

- `roles.Role`: the one home of the role names;
- `models`: the tables (`console_users`, `console_api_tokens`, `console_sessions`,
  `console_login_attempts`);
- `passwords`: argon2id hashing and the password policy (length, common passwords, zxcvbn);
- `users`, `sessions`, `tokens`, `throttle`: keyword-only services over a session that never
  commit; `throttle.authenticate` checks credentials behind the login throttle;
- `audit`: an account's changes in the incidents audit chain;
- `errors` and `messages`: the errors (by HTTP category) and their English words for the CLI.

Beside `incidents` in the flow: it may import `consumers`, `detectors` and `incidents`, and only
the shell (`tocsin`: the CLI and the console) imports it.
"""
