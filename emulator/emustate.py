"""Mutable emulator state shared by the middleware, the moto patches and the control API.

Everything here is touched from werkzeug's request threads, so all access goes
through one lock. Pull through cache rules are NOT kept here: they live on moto's
ECR backends (see ptc.py) so that moto's own reset clears them too.
"""

import os
import random
import threading
import time
from datetime import datetime, timezone

import gitlab

MANAGEMENT_ACCOUNT_ID = "123456789012"

# Regions an account must opt in to (AWS: "not enabled by default"); they start DISABLED.
OPT_IN_REGIONS = frozenset((
    "af-south-1", "ap-east-1", "ap-east-2", "ap-south-2", "ap-southeast-3", "ap-southeast-4",
    "ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ca-west-1", "eu-central-2", "eu-south-1",
    "eu-south-2", "il-central-1", "me-central-1", "me-south-1", "mx-central-1",
))
# GetRegionOptStatus's values; only ENABLED and ENABLED_BY_DEFAULT let an account's calls in.
USABLE_REGION_STATUSES = ("ENABLED", "ENABLED_BY_DEFAULT")
# IAM's limits on a role's MaxSessionDuration.
MAX_SESSION_DURATION_RANGE = (3600, 43200)


class EmulatorState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        # Set when the server is stopping: releases requests parked by a "hang" fault.
        self.stopping = threading.Event()
        self._calls: list[dict] = []
        self._denied_accounts: set[str] = set()
        self._faults: list[dict] = []
        # Registry passwords (from GetAuthorizationToken) -> the principal they stand for.
        self._registry_tokens: dict[str, dict] = {}
        self._identity_policies: list[dict] = []
        # (account, region) -> opt-in status, only where it differs from the default.
        self._region_opt: dict[tuple[str, str], str] = {}
        # Every role's MaxSessionDuration; IAM's default is 3600, 43200 keeps long sessions working.
        self._max_session_duration = MAX_SESSION_DURATION_RANGE[1]
        # After a forced deletion the name stays taken this long (AWS deletes asynchronously).
        self._force_delete_delay_ms = int(os.environ.get("PTC_FORCE_DELETE_DELAY_MS") or 0)
        # (account, region, name) -> time.monotonic() when the forced deletion completes.
        self._purging: dict[tuple[str, str, str], float] = {}

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

    # --- validation tokens: GitLab's (gitlab.py) ---------------------------
    def set_valid_tokens(self, tokens, access_level: int = gitlab.REPORTER) -> None:
        """Seeds these as the GitLab group's active registry tokens (Reporter unless told)."""
        gitlab.seed_registry_tokens(tokens, access_level)

    def add_valid_tokens(self, tokens, access_level: int = gitlab.REPORTER) -> None:
        gitlab.add_registry_tokens(tokens, access_level)

    def is_valid_token(self, token: str) -> bool:
        """What GitLab.com's registry accepts: a token GitLab holds active."""
        return gitlab.is_active_token(token)

    # --- AssumeRole deny list -------------------------------------------
    def set_denied_accounts(self, accounts) -> None:
        with self.lock:
            self._denied_accounts = {str(a) for a in accounts}

    def is_assume_role_denied(self, account_id: str, role_name: str = "OrganizationAccountAccessRole") -> bool:
        # The management account has no OrganizationAccountAccessRole (Organizations creates it
        # only in the accounts it creates); its other roles, e.g. a workload's, can be assumed.
        with self.lock:
            if account_id == MANAGEMENT_ACCOUNT_ID:
                return role_name == "OrganizationAccountAccessRole"
            return account_id in self._denied_accounts

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
                # `skip`: the first matching calls pass untouched (e.g. a read before a write
                # succeeds, the same read after it fails).
                if int(rule.get("skip", 0)) > 0:
                    rule["skip"] = int(rule["skip"]) - 1
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

    # --- registry passwords (GetAuthorizationToken) -----------------------
    def add_registry_token(self, password: str, principal: dict) -> None:
        """principal: account, region, principal_arn, session_arn, role_name, expires_at."""
        now = datetime.now(timezone.utc)
        with self.lock:
            # Drop expired ones so a long run does not accumulate them.
            for old in [p for p, v in self._registry_tokens.items() if v["expires_at"] <= now]:
                del self._registry_tokens[old]
            self._registry_tokens[password] = dict(principal)

    def registry_token(self, password: str) -> dict | None:
        with self.lock:
            found = self._registry_tokens.get(password)
            return dict(found) if found else None

    def expire_registry_tokens(self) -> int:
        """Make every issued password expired (tests of re-authentication); returns how many."""
        with self.lock:
            for value in self._registry_tokens.values():
                value["expires_at"] = datetime.fromtimestamp(0, timezone.utc)
            return len(self._registry_tokens)

    # --- identity policies chosen by tests --------------------------------
    def set_identity_policies(self, policies) -> None:
        with self.lock:
            self._identity_policies = [dict(p, actions=list(p["actions"])) for p in policies]

    def identity_policies(self) -> list[dict]:
        with self.lock:
            return [dict(p, actions=list(p["actions"])) for p in self._identity_policies]

    # --- Region opt-in ------------------------------------------------------
    @staticmethod
    def default_region_status(region: str) -> str:
        return "DISABLED" if region in OPT_IN_REGIONS else "ENABLED_BY_DEFAULT"

    def set_region_status(self, account: str, region: str, status: str) -> None:
        with self.lock:
            if status == self.default_region_status(region):
                self._region_opt.pop((account, region), None)
            else:
                self._region_opt[(account, region)] = status

    def region_status(self, account: str, region: str) -> str:
        with self.lock:
            return self._region_opt.get((account, region), self.default_region_status(region))

    def region_statuses(self) -> list[dict]:
        """The entries that differ from the default, sorted."""
        with self.lock:
            return [{"account": a, "region": r, "status": s} for (a, r), s in sorted(self._region_opt.items())]

    # --- STS session limits -------------------------------------------------
    def set_max_session_duration(self, seconds: int) -> None:
        with self.lock:
            self._max_session_duration = int(seconds)

    def max_session_duration(self) -> int:
        with self.lock:
            return self._max_session_duration

    # --- Secrets Manager: forced deletions still in progress -------------------
    def set_force_delete_delay_ms(self, ms: int) -> None:
        with self.lock:
            self._force_delete_delay_ms = int(ms)

    def force_delete_delay_ms(self) -> int:
        with self.lock:
            return self._force_delete_delay_ms

    def start_purge(self, account: str, region: str, name: str) -> None:
        with self.lock:
            if self._force_delete_delay_ms > 0:
                self._purging[(account, region, name)] = time.monotonic() + self._force_delete_delay_ms / 1000.0

    def is_purging(self, account: str, region: str, name: str) -> bool:
        with self.lock:
            until = self._purging.get((account, region, name))
            if until is not None and until <= time.monotonic():
                del self._purging[(account, region, name)]
                until = None
            return until is not None


STATE = EmulatorState()
