"""Mutable emulator state shared by the middleware, the moto patches and the control API.

Everything here is touched from werkzeug's request threads, so all access goes
through one lock. Pull through cache rules are NOT kept here: they live on moto's
ECR backends (see ptc.py) so that moto's own reset clears them too.
"""

import random
import threading

MANAGEMENT_ACCOUNT_ID = "123456789012"


class EmulatorState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        # Set when the server is stopping: releases requests parked by a "hang" fault.
        self.stopping = threading.Event()
        self._calls: list[dict] = []
        self._valid_tokens: set[str] = set()
        self._denied_accounts: set[str] = set()
        self._faults: list[dict] = []

    # --- call log -------------------------------------------------------
    def record_call(self, call: dict) -> dict:
        with self.lock:
            self._calls.append(call)
        return call

    def update_call(self, call: dict, **fields) -> None:
        # The middleware records a call on arrival and adds the status once moto answers.
        with self.lock:
            call.update(fields)

    def calls(self) -> list[dict]:
        with self.lock:
            return [dict(c) for c in self._calls]

    def reset_calls(self) -> None:
        with self.lock:
            self._calls.clear()

    # --- validation tokens ----------------------------------------------
    def set_valid_tokens(self, tokens) -> None:
        with self.lock:
            self._valid_tokens = {str(t) for t in tokens}

    def add_valid_tokens(self, tokens) -> None:
        with self.lock:
            self._valid_tokens |= {str(t) for t in tokens}

    def is_valid_token(self, token: str) -> bool:
        with self.lock:
            return token in self._valid_tokens

    # --- AssumeRole deny list -------------------------------------------
    def set_denied_accounts(self, accounts) -> None:
        with self.lock:
            self._denied_accounts = {str(a) for a in accounts}

    def is_assume_role_denied(self, account_id: str) -> bool:
        with self.lock:
            return account_id == MANAGEMENT_ACCOUNT_ID or account_id in self._denied_accounts

    # --- fault injection ------------------------------------------------
    def set_faults(self, rules) -> None:
        with self.lock:
            self._faults = [dict(r) for r in rules]

    def faults(self) -> list[dict]:
        with self.lock:
            return [dict(r) for r in self._faults]

    def pick_fault(self, service: str, action: str, account: str, region: str) -> dict | None:
        """Return the first fault rule that matches and fires for this call, if any.

        Matching, the rate draw and the `times` countdown happen under the lock so
        concurrent requests cannot overshoot `times`.
        """
        call = {"service": service, "action": action, "account": account, "region": region}
        with self.lock:
            for rule in self._faults:
                if any(rule.get(k, "*") not in ("*", v) for k, v in call.items()):
                    continue
                times = rule.get("times")
                if times is not None and int(times) <= 0:
                    continue
                if random.random() >= float(rule.get("rate", 1.0)):
                    continue
                if times is not None:
                    rule["times"] = int(times) - 1
                return dict(rule)
        return None


STATE = EmulatorState()
