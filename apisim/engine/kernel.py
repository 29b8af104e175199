"""The compiled kernel: the API Gateway pipeline, the account and the function pools over arrays.

Each function here mirrors one Python component, line for line, so that both engines give the same
numbers for the same seed (``tests/test_kernel.py`` runs them side by side): the Python code is the
specification; this is the same code with its objects flattened into arrays so that Numba can
compile it. Nothing here draws random numbers: every stream's values are drawn by the Python
distribution objects (:func:`apisim.distributions.draws`) into buffers the kernel reads in order,
and :mod:`apisim.engine.compiled` tops them up between events. What the kernel does not cover runs
on the Python engine (see :func:`apisim.engine.compiled.unsupported`).

Layout: ``S`` (a :class:`State`) holds every array; integers that change (counters, the account's
busy count, heap sizes) live in ``S.si``, floats in ``S.sf``. Column names are the constants below.

Why Numba and not an ahead-of-time extension: see ``pyproject.toml``.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from numba import njit

# Outcomes (apisim.outcomes.Outcome), as the kernel writes them.
OK, CACHE_HIT, THROTTLED, QUOTA_EXCEEDED, UNAUTHORIZED, FORBIDDEN, INVALID = 0, 1, 2, 3, 4, 5, 6
BACKEND_THROTTLED, TIMEOUT, ERROR = 7, 8, 9
LAMBDA = 0  # apigateway.LAMBDA; any other integration kind draws its latency
EPSILON = 1e-9  # throttle.EPSILON
HEADROOM = 4  # values every stream holds before an event: no event draws more than one from a stream

# What the kernel returns: done, or stopped before an event because a buffer needs topping up.
DONE, NEED = 0, 1

# S.si: scalar integers
N_OUT, N_FLAGS, N_REQ, N_LV, H_N, SEQ, FREE_N, PW_N, ACC_BUSY, ACC_LIMIT, TRACK, ACC_BUCKET, IDLE_TOTAL = range(13)
# S.sf: scalar floats
ENV_NOW, WARMUP, END = range(3)
# S.ci: clients
CI_API, CI_STAGE, CI_PLAN, CI_PLAN_BUCKET0, CI_QUOTA0, CI_RETRY_MAX, CI_BACKOFF_EXP, CI_JITTER, CI_JITTER_S = range(9)
# S.cf: clients
CF_BASE, CF_CAP = range(2)
# S.ai: APIs
AI_OVERHEAD_S, AI_AUTH, AI_AUTH_POOL, AI_AUTH_CACHE, AI_DENY_BELOW, AI_AUTH_LAT_S, AI_UNAUTH, AI_KEY_SPACE = range(8)
# S.gi: stages
GI_ROUTE0, GI_CACHE, GI_HIT_S = range(3)
# S.ri, S.rf: a route on a stage
RI_BUCKET, RI_CACHED, RI_KIND, RI_POOL, RI_LAT_S, RI_FAIL_S, RI_INDEX = range(7)
RF_INVALID, RF_ERROR, RF_TIMEOUT = range(3)
# S.qi, S.qf: quotas (one per usage plan and API key)
QI_CUR, QI_USED, QI_LIMIT, QI_OFFSET, QI_STARTS0, QI_NSTARTS = range(6)
QF_LO, QF_HI, QF_AT = range(3)
# S.pi, S.pf: function pools
(PI_RESERVED, PI_PROV, PI_PROV_IDLE, PI_BUSY, PI_ACCOUNT, PI_INVOKE_RATE, PI_ACCOUNT_RATE, PI_PROV_RATE, PI_SCALING,
 PI_DUR_S, PI_COLD_S, PI_EXP_S, PI_FAIL_S, PI_INIT_BILLED, PI_COMP0, PI_COMPN, PI_PCOMP0, PI_PCOMPN, PI_IDLE0,
 PI_IDLEN, PI_PEAK0, PI_NPEAKS) = range(22)  # fmt: skip
PF_ERROR, PF_TIMEOUT, PF_INIT_LIMIT, PF_INV_WIDTH = range(4)
# S.st: FunctionStats' fields, in order
(ST_INVOCATIONS, ST_COLD, ST_THROTTLES, ST_THR_SCALING, ST_THR_RATE, ST_ERRORS, ST_BILLED_OD, ST_BILLED_PROV,
 ST_PROV_INV, ST_PEAK) = range(10)  # fmt: skip
# S.evf, S.evi: a request waiting on the agenda (for its authorizer's answer, or to be retried)
EF_T, EF_T0, EF_OVER, EF_AUTH, EF_FIRST, EF_VALID = range(6)
EI_KIND, EI_CLIENT, EI_ROUTE, EI_KEY, EI_TOKEN, EI_CKEY, EI_ATTEMPT = range(7)
ADMIT, RETRY = 0, 1
# S.lvw: which level a logged change is: pool × 4 + one of these
BUSY_UP, BUSY_DOWN, LIVE_UP, LIVE_DOWN = range(4)

State = namedtuple(
    "State",
    [
        "si", "sf",  # scalars
        "sbuf", "spos", "send",  # random streams: buffered values, next index, end
        "bk",  # token buckets: tokens, last, rate, burst
        "ci", "cf", "retry_on",  # clients; retry_on[client, status]
        "ai", "gi", "ri", "rf",  # APIs, stages, routes on stages
        "qi", "qf", "starts",  # quotas and their calendar periods' starts
        "cttl", "cbase", "cexp", "pw_t", "pw_k", "pw_c",  # caches: TTL, keys' base, expiry; pending writes
        "pi", "pf", "comp", "pcomp", "idle", "st", "peaks",  # function pools
        "ht", "hs", "hslot", "evf", "evi", "free",  # the agenda (a heap) and its requests' slots
        "of", "oi", "ofl", "rqf", "rqi", "lvt", "lvw",  # outputs: attempts, flags, requests, level changes
    ],
)  # fmt: skip


# -- small heaps ------------------------------------------------------------------------------------


@njit(cache=True)
def _push_time(h, base, n, t):
    """Push ``t`` on the min-heap ``h[base:base + n]`` (heapq.heappush); returns the new size."""
    i = n
    h[base + i] = t
    while i > 0:
        parent = (i - 1) >> 1
        if h[base + parent] <= h[base + i]:
            break
        h[base + parent], h[base + i] = h[base + i], h[base + parent]
        i = parent
    return n + 1


@njit(cache=True)
def _pop_time(h, base, n):
    """Pop the smallest of ``h[base:base + n]`` (heapq.heappop); the size is now ``n - 1``."""
    top = h[base]
    n -= 1
    h[base] = h[base + n]
    i = 0
    while True:
        left = 2 * i + 1
        if left >= n:
            break
        child = left
        if left + 1 < n and h[base + left + 1] < h[base + left]:
            child = left + 1
        if h[base + i] <= h[base + child]:
            break
        h[base + i], h[base + child] = h[base + child], h[base + i]
        i = child
    return top


@njit(cache=True)
def _swap_pending(S, i, j):
    S.pw_t[i], S.pw_t[j] = S.pw_t[j], S.pw_t[i]
    S.pw_k[i], S.pw_k[j] = S.pw_k[j], S.pw_k[i]
    S.pw_c[i], S.pw_c[j] = S.pw_c[j], S.pw_c[i]


@njit(cache=True)
def _less_agenda(S, i, j):
    # SimPy's order: time, then the order events were scheduled in.
    return S.ht[i] < S.ht[j] or (S.ht[i] == S.ht[j] and S.hs[i] < S.hs[j])


@njit(cache=True)
def _swap_agenda(S, i, j):
    S.ht[i], S.ht[j] = S.ht[j], S.ht[i]
    S.hs[i], S.hs[j] = S.hs[j], S.hs[i]
    S.hslot[i], S.hslot[j] = S.hslot[j], S.hslot[i]


# -- random streams and token buckets ----------------------------------------------------------------


@njit(cache=True)
def _draw(S, s):
    """The next value of stream ``s`` (a distributions.draws supply)."""
    v = S.sbuf[S.spos[s]]
    S.spos[s] += 1
    return v


@njit(cache=True)
def _take(S, b, now):
    """throttle.TokenBucket.try_take."""
    bk = S.bk
    tokens = bk[b, 0] + (now - bk[b, 1]) * bk[b, 2]
    if tokens > bk[b, 3]:
        tokens = bk[b, 3]
    bk[b, 1] = now
    if tokens >= 1.0 - EPSILON:
        bk[b, 0] = tokens - 1.0
        return True
    bk[b, 0] = tokens
    return False


@njit(cache=True)
def _quota_take(S, q, now):
    """throttle.Quota.try_take, with months.CalendarPeriods.containing."""
    qi, qf = S.qi, S.qf
    t = now + qf[q, QF_AT]
    if not (qf[q, QF_LO] <= t < qf[q, QF_HI]):
        if t < 0:
            cur, lo, hi = -1, -math.inf, 0.0
        else:
            base, n = qi[q, QI_STARTS0], qi[q, QI_NSTARTS]
            starts = S.starts
            if t < starts[base + n - 1]:
                lo_i, hi_i = 0, n - 1
                while lo_i < hi_i:
                    mid = (lo_i + hi_i + 1) // 2
                    if starts[base + mid] <= t:
                        lo_i = mid
                    else:
                        hi_i = mid - 1
                cur = lo_i
            else:
                cur = n - 1
            lo = starts[base + cur]
            hi = starts[base + cur + 1] if cur + 1 < n else math.inf
        qi[q, QI_CUR] = cur
        qf[q, QF_LO] = lo
        qf[q, QF_HI] = hi
        qi[q, QI_USED] = 0
    allowed = qi[q, QI_LIMIT] - (qi[q, QI_OFFSET] if qi[q, QI_CUR] == 0 else 0)
    if qi[q, QI_USED] < allowed:
        qi[q, QI_USED] += 1
        return True
    return False


# -- caches (cache.TtlCache), with one heap of pending writes for every cache -----------------------------
# Why one heap: a TTL cache's answers depend only on the writes due by the lookup's time, applied in
# time order; applying every cache's due writes at any lookup changes no answer and keeps one heap.


@njit(cache=True)
def _cache_store(S, c, key, at):
    n = S.si[PW_N]
    S.pw_t[n] = at
    S.pw_k[n] = S.cbase[c] + key
    S.pw_c[n] = c
    i = n
    while i > 0:
        parent = (i - 1) >> 1
        if S.pw_t[parent] <= S.pw_t[i]:
            break
        _swap_pending(S, parent, i)
        i = parent
    S.si[PW_N] = n + 1


@njit(cache=True)
def _cache_lookup(S, c, key, now):
    """TtlCache.lookup: apply the writes due by ``now``, then whether ``key`` is live."""
    while S.si[PW_N] > 0 and S.pw_t[0] <= now:
        written, k, cc = S.pw_t[0], S.pw_k[0], S.pw_c[0]
        n = S.si[PW_N] - 1
        S.si[PW_N] = n
        S.pw_t[0], S.pw_k[0], S.pw_c[0] = S.pw_t[n], S.pw_k[n], S.pw_c[n]
        i = 0
        while True:
            left = 2 * i + 1
            if left >= n:
                break
            child = left
            if left + 1 < n and S.pw_t[left + 1] < S.pw_t[left]:
                child = left + 1
            if S.pw_t[i] <= S.pw_t[child]:
                break
            _swap_pending(S, i, child)
            i = child
        S.cexp[k] = written + S.cttl[cc]
    return now < S.cexp[S.cbase[c] + key]  # an absent key's expiry is -inf


# -- function pools (functions.FunctionPool, AccountPool) ------------------------------------------------


@njit(cache=True)
def _advance(S, p, now):
    """FunctionPool.advance: completions due by ``now`` go idle, newest on top."""
    pi = S.pi
    done = 0
    base = pi[p, PI_COMP0]
    if pi[p, PI_COMPN] > 0 and S.comp[base] <= now:
        exp_s = pi[p, PI_EXP_S]
        while pi[p, PI_COMPN] > 0 and S.comp[base] <= now:
            t = _pop_time(S.comp, base, pi[p, PI_COMPN])
            pi[p, PI_COMPN] -= 1
            S.idle[pi[p, PI_IDLE0] + pi[p, PI_IDLEN]] = t + _draw(S, exp_s)
            pi[p, PI_IDLEN] += 1
            S.si[IDLE_TOTAL] += 1
            done += 1
    if done and pi[p, PI_ACCOUNT]:
        S.si[ACC_BUSY] -= done
    pbase = pi[p, PI_PCOMP0]
    while pi[p, PI_PCOMPN] > 0 and S.pcomp[pbase] <= now:
        _pop_time(S.pcomp, pbase, pi[p, PI_PCOMPN])
        pi[p, PI_PCOMPN] -= 1
        pi[p, PI_PROV_IDLE] += 1
        done += 1
    if done:
        pi[p, PI_BUSY] -= done


@njit(cache=True)
def _log_level(S, p, which, t):
    n = S.si[N_LV]
    S.lvt[n] = t
    S.lvw[n] = p * 4 + which
    S.si[N_LV] = n + 1


@njit(cache=True)
def _invoke(S, p, now, counted):
    """FunctionPool.invoke: (admitted, cold, init seconds, run seconds, failed)."""
    pi, pf, st = S.pi, S.pf, S.st
    if (pi[p, PI_COMPN] > 0 and S.comp[pi[p, PI_COMP0]] <= now) or (
        pi[p, PI_PCOMPN] > 0 and S.pcomp[pi[p, PI_PCOMP0]] <= now
    ):
        _advance(S, p, now)
    invoke_rate, account_rate = pi[p, PI_INVOKE_RATE], pi[p, PI_ACCOUNT_RATE]
    if (invoke_rate >= 0 and not _take(S, invoke_rate, now)) or (account_rate >= 0 and not _take(S, account_rate, now)):
        if counted:
            st[p, ST_THROTTLES] += 1
            st[p, ST_THR_RATE] += 1
        return False, False, 0.0, 0.0, False
    prov_rate = pi[p, PI_PROV_RATE]
    provisioned = pi[p, PI_PROV_IDLE] > 0 and (prov_rate < 0 or _take(S, prov_rate, now))
    reserved = pi[p, PI_RESERVED]
    if reserved >= 0:
        prov = pi[p, PI_PROV]
        admitted = provisioned or (pi[p, PI_BUSY] - prov + pi[p, PI_PROV_IDLE] < reserved - prov)
    elif provisioned:
        admitted = True
    elif not pi[p, PI_ACCOUNT]:
        admitted = True
    elif S.si[ACC_BUSY] < S.si[ACC_LIMIT]:
        admitted = True
    else:  # AccountPool.has_room: the shared count may be stale, only ever too high
        for q in range(pi.shape[0]):
            if pi[q, PI_ACCOUNT]:
                _advance(S, q, now)
        admitted = S.si[ACC_BUSY] < S.si[ACC_LIMIT]
    if not admitted:
        if counted:
            st[p, ST_THROTTLES] += 1
            if pi[p, PI_PROV_IDLE]:
                st[p, ST_THR_RATE] += 1
        return False, False, 0.0, 0.0, False
    cold = False
    if provisioned:
        pi[p, PI_PROV_IDLE] -= 1
    else:
        reused = False
        base = pi[p, PI_IDLE0]
        while pi[p, PI_IDLEN] > 0:
            pi[p, PI_IDLEN] -= 1
            S.si[IDLE_TOTAL] -= 1
            expires = S.idle[base + pi[p, PI_IDLEN]]
            if expires > now:
                reused = True
                break
            _log_level(S, p, LIVE_DOWN, expires)  # it had expired while idle
        if not reused:
            if not _take(S, pi[p, PI_SCALING], now):
                if counted:
                    st[p, ST_THROTTLES] += 1
                    st[p, ST_THR_SCALING] += 1
                return False, False, 0.0, 0.0, False
            cold = True
            _log_level(S, p, LIVE_UP, now)
    init = _draw(S, pi[p, PI_COLD_S]) if cold else 0.0
    run = _draw(S, pi[p, PI_DUR_S])
    if init > pf[p, PF_INIT_LIMIT]:
        run += init
        init = pf[p, PF_INIT_LIMIT]
    failed = False
    if run > pf[p, PF_TIMEOUT]:
        run = pf[p, PF_TIMEOUT]
        failed = True
    elif pf[p, PF_ERROR] and _draw(S, pi[p, PI_FAIL_S]) < pf[p, PF_ERROR]:
        failed = True
    billed_s = run + init if cold and pi[p, PI_INIT_BILLED] else run
    billed_ms = int(math.ceil(billed_s * 1000.0 - 1e-9))
    if billed_ms == 0:
        billed_ms = 1
    end = now + init + run
    if provisioned:
        pi[p, PI_PCOMPN] = _push_time(S.pcomp, pi[p, PI_PCOMP0], pi[p, PI_PCOMPN], end)
    else:
        pi[p, PI_COMPN] = _push_time(S.comp, pi[p, PI_COMP0], pi[p, PI_COMPN], end)
    busy = pi[p, PI_BUSY] + 1
    pi[p, PI_BUSY] = busy
    if pi[p, PI_ACCOUNT] and not provisioned:
        S.si[ACC_BUSY] += 1
    _log_level(S, p, BUSY_UP, now)
    _log_level(S, p, BUSY_DOWN, end)
    bucket = int(now * pf[p, PF_INV_WIDTH])
    if bucket < pi[p, PI_NPEAKS] and busy > S.peaks[pi[p, PI_PEAK0] + bucket]:
        S.peaks[pi[p, PI_PEAK0] + bucket] = busy
    if counted:
        st[p, ST_INVOCATIONS] += 1
        if busy > st[p, ST_PEAK]:
            st[p, ST_PEAK] = busy
        if cold:
            st[p, ST_COLD] += 1
        if failed:
            st[p, ST_ERRORS] += 1
        if provisioned:
            st[p, ST_PROV_INV] += 1
            st[p, ST_BILLED_PROV] += billed_ms
        else:
            st[p, ST_BILLED_OD] += billed_ms
    return True, cold, init, run, failed


@njit(cache=True)
def finish_pools(S, end):
    """FunctionPool.finish for every pool: idle instances that expired by ``end`` are gone."""
    pi = S.pi
    for p in range(pi.shape[0]):
        _advance(S, p, end)
        base, n = pi[p, PI_IDLE0], pi[p, PI_IDLEN]
        kept = 0
        for k in range(n):
            t = S.idle[base + k]
            if t <= end:
                _log_level(S, p, LIVE_DOWN, t)
            else:
                S.idle[base + kept] = t
                kept += 1
        pi[p, PI_IDLEN] = kept
        S.si[IDLE_TOTAL] -= n - kept


# -- the ledger (ledger.Ledger) -------------------------------------------------------------------


@njit(cache=True)
def _schedule(S, t, kind, t0, overhead, auth_s, first, valid, client, route, key, token, ckey, attempt):
    """Ledger.at: the request waits on the agenda until ``t`` (SimPy's clock arithmetic, exactly)."""
    now = S.sf[ENV_NOW]
    delay = t - now
    if not delay > 0.0:
        delay = 0.0
    S.si[FREE_N] -= 1
    slot = S.free[S.si[FREE_N]]
    ef, ei = S.evf, S.evi
    ef[slot, EF_T], ef[slot, EF_T0], ef[slot, EF_OVER], ef[slot, EF_AUTH] = t, t0, overhead, auth_s
    ef[slot, EF_FIRST], ef[slot, EF_VALID] = first, valid
    ei[slot, EI_KIND], ei[slot, EI_CLIENT], ei[slot, EI_ROUTE], ei[slot, EI_KEY] = kind, client, route, key
    ei[slot, EI_TOKEN], ei[slot, EI_CKEY], ei[slot, EI_ATTEMPT] = token, ckey, attempt
    n = S.si[H_N]
    S.ht[n] = now + delay
    S.hs[n] = S.si[SEQ]
    S.hslot[n] = slot
    S.si[SEQ] += 1
    i = n
    while i > 0:
        parent = (i - 1) >> 1
        if not _less_agenda(S, i, parent):
            break
        _swap_agenda(S, parent, i)
        i = parent
    S.si[H_N] = n + 1


@njit(cache=True)
def _answer(S, t0, first, valid, client, route, key, token, ckey, attempt,
            outcome, status, overhead, auth_s, integration_s, auth_hit, cache):  # fmt: skip
    """Ledger.answer: the attempt's row, its cache facts, and the client's retry or the request's end."""
    latency = overhead + auth_s + integration_s
    n = S.si[N_OUT]
    S.of[n, 0] = t0
    S.of[n, 1] = latency
    S.oi[n, 0] = outcome
    S.oi[n, 1] = status
    S.oi[n, 2] = client
    S.si[N_OUT] = n + 1
    if (auth_hit != -1 or cache != -1) and t0 >= S.sf[WARMUP]:
        S.ofl[S.si[N_FLAGS]] = client * 9 + (auth_hit + 1) * 3 + cache + 1
        S.si[N_FLAGS] += 1
    ci = S.ci
    most = ci[client, CI_RETRY_MAX]
    if most > 1 and S.retry_on[client, status] and attempt < most:
        # RetryPolicy.delay
        d = S.cf[client, CF_BASE] * (2.0 ** (attempt - 1)) if ci[client, CI_BACKOFF_EXP] else S.cf[client, CF_BASE]
        if d > S.cf[client, CF_CAP]:
            d = S.cf[client, CF_CAP]
        jitter = ci[client, CI_JITTER]
        if jitter == 1:
            d = d * _draw(S, ci[client, CI_JITTER_S])
        elif jitter == 2:
            d = d / 2 + d / 2 * _draw(S, ci[client, CI_JITTER_S])
        again = t0 + latency + d
        if again < S.sf[END]:
            _schedule(S, again, RETRY, again, 0.0, 0.0, first, valid, client, route, key, token, ckey, attempt + 1)
            return
    if S.si[TRACK]:
        m = S.si[N_REQ]
        S.rqf[m, 0] = first
        S.rqf[m, 1] = t0 + latency - first
        S.rqi[m, 0] = outcome
        S.rqi[m, 1] = attempt
        S.si[N_REQ] = m + 1


# -- the API Gateway door (apigateway.ApiGateway) ---------------------------------------------------------


@njit(cache=True)
def _integrate(S, now, first, valid, client, route, key, token, ckey, attempt,
               r, g, t0, overhead, auth_s, auth_hit, cache_key):  # fmt: skip
    """ApiGateway._integrate."""
    ri, rf = S.ri, S.rf
    timeout = rf[r, RF_TIMEOUT]
    cache = 0 if cache_key >= 0 else -1
    if ri[r, RI_KIND] == LAMBDA:
        ok, cold, init, run, failed = _invoke(S, ri[r, RI_POOL], now, t0 >= S.sf[WARMUP])
        if not ok:
            _answer(S, t0, first, valid, client, route, key, token, ckey, attempt,
                    BACKEND_THROTTLED, 500, overhead, auth_s, 0.0, auth_hit, cache)  # fmt: skip
            return
        took = init + run
        if took > timeout:
            _answer(S, t0, first, valid, client, route, key, token, ckey, attempt,
                    TIMEOUT, 504, overhead, auth_s, timeout, auth_hit, cache)  # fmt: skip
        elif failed:
            _answer(S, t0, first, valid, client, route, key, token, ckey, attempt,
                    ERROR, 502, overhead, auth_s, took, auth_hit, cache)  # fmt: skip
        else:
            if cache_key >= 0:
                _cache_store(S, S.gi[g, GI_CACHE], cache_key, now + took)
            _answer(S, t0, first, valid, client, route, key, token, ckey, attempt,
                    OK, 200, overhead, auth_s, took, auth_hit, cache)  # fmt: skip
        return
    took = _draw(S, ri[r, RI_LAT_S])
    if took > timeout:
        _answer(S, t0, first, valid, client, route, key, token, ckey, attempt,
                TIMEOUT, 504, overhead, auth_s, timeout, auth_hit, cache)  # fmt: skip
    elif rf[r, RF_ERROR] and _draw(S, ri[r, RI_FAIL_S]) < rf[r, RF_ERROR]:
        _answer(S, t0, first, valid, client, route, key, token, ckey, attempt,
                ERROR, 502, overhead, auth_s, took, auth_hit, cache)  # fmt: skip
    else:
        if cache_key >= 0:
            _cache_store(S, S.gi[g, GI_CACHE], cache_key, now + took)
        _answer(S, t0, first, valid, client, route, key, token, ckey, attempt,
                OK, 200, overhead, auth_s, took, auth_hit, cache)  # fmt: skip


@njit(cache=True)
def _admit(S, now, first, valid, client, route, key, token, ckey, attempt, t0, overhead, auth_s, auth_hit):
    """ApiGateway._admit: throttles, quota, validation, cache and integration, all at ``now``."""
    ci = S.ci
    g = ci[client, CI_STAGE]
    r = S.gi[g, GI_ROUTE0] + route
    refused = -1
    if ci[client, CI_PLAN] and ci[client, CI_PLAN_BUCKET0] >= 0 and not _take(S, ci[client, CI_PLAN_BUCKET0] + key, now):
        refused = THROTTLED
    elif S.ri[r, RI_BUCKET] >= 0 and not _take(S, S.ri[r, RI_BUCKET], now):
        refused = THROTTLED
    elif not _take(S, S.si[ACC_BUCKET], now):
        refused = THROTTLED
    elif ci[client, CI_PLAN] and ci[client, CI_QUOTA0] >= 0 and not _quota_take(S, ci[client, CI_QUOTA0] + key, now):
        refused = QUOTA_EXCEEDED
    if refused >= 0:
        _answer(S, t0, first, valid, client, route, key, token, ckey, attempt,
                refused, 429, overhead, auth_s, 0.0, auth_hit, -1)  # fmt: skip
        return
    invalid = S.rf[r, RF_INVALID]
    if invalid and valid < invalid:
        _answer(S, t0, first, valid, client, route, key, token, ckey, attempt,
                INVALID, 400, overhead, auth_s, 0.0, auth_hit, -1)  # fmt: skip
        return
    cache_key = -1
    if S.ri[r, RI_CACHED]:
        cache_key = S.ri[r, RI_INDEX] * S.ai[ci[client, CI_API], AI_KEY_SPACE] + ckey
        if _cache_lookup(S, S.gi[g, GI_CACHE], cache_key, now):
            hit = _draw(S, S.gi[g, GI_HIT_S])
            _answer(S, t0, first, valid, client, route, key, token, ckey, attempt,
                    CACHE_HIT, 200, overhead, auth_s, hit, auth_hit, 1)  # fmt: skip
            return
    _integrate(S, now, first, valid, client, route, key, token, ckey, attempt,
               r, g, t0, overhead, auth_s, auth_hit, cache_key)  # fmt: skip


@njit(cache=True)
def _attempt(S, now, first, valid, client, route, key, token, ckey, attempt):
    """ApiGateway.attempt and ._authorize."""
    a = S.ci[client, CI_API]
    ai = S.ai
    overhead = _draw(S, ai[a, AI_OVERHEAD_S])
    if S.ci[client, CI_PLAN] and key < 0:
        _answer(S, now, first, valid, client, route, key, token, ckey, attempt,
                FORBIDDEN, 403, overhead, 0.0, 0.0, -1, -1)  # fmt: skip
        return
    kind = ai[a, AI_AUTH]
    if kind == 0:
        _admit(S, now, first, valid, client, route, key, token, ckey, attempt, now, overhead, 0.0, -1)
        return
    if kind == 2:  # cognito, IAM, JWT: latency only
        delay = _draw(S, ai[a, AI_AUTH_LAT_S])
        if token < 0:
            unauthorized = ai[a, AI_UNAUTH]
            _answer(S, now, first, valid, client, route, key, token, ckey, attempt,
                    unauthorized, 401 if unauthorized == UNAUTHORIZED else 403, overhead, delay, 0.0, -1, -1)  # fmt: skip
        else:
            _admit(S, now, first, valid, client, route, key, token, ckey, attempt, now, overhead, delay, -1)
        return
    # A Lambda authorizer, and its result cache.
    c = ai[a, AI_AUTH_CACHE]
    deny_below = ai[a, AI_DENY_BELOW]
    if token >= 0 and c >= 0 and _cache_lookup(S, c, token, now):
        if token < deny_below:
            _answer(S, now, first, valid, client, route, key, token, ckey, attempt,
                    FORBIDDEN, 403, overhead, 0.0, 0.0, 1, -1)  # fmt: skip
        else:
            _admit(S, now, first, valid, client, route, key, token, ckey, attempt, now, overhead, 0.0, 1)
        return
    ok, cold, init, run, failed = _invoke(S, ai[a, AI_AUTH_POOL], now, now >= S.sf[WARMUP])
    if not ok:
        _answer(S, now, first, valid, client, route, key, token, ckey, attempt,
                BACKEND_THROTTLED, 500, overhead, 0.0, 0.0, 0, -1)  # fmt: skip
        return
    took = init + run
    if failed:
        _answer(S, now, first, valid, client, route, key, token, ckey, attempt,
                ERROR, 500, overhead, took, 0.0, 0, -1)  # fmt: skip
        return
    if token < 0:
        _answer(S, now, first, valid, client, route, key, token, ckey, attempt,
                UNAUTHORIZED, 401, overhead, took, 0.0, 0, -1)  # fmt: skip
        return
    if c >= 0:
        _cache_store(S, c, token, now + took)
    if token < deny_below:
        _answer(S, now, first, valid, client, route, key, token, ckey, attempt,
                FORBIDDEN, 403, overhead, took, 0.0, 0, -1)  # fmt: skip
        return
    _schedule(S, now + took, ADMIT, now, overhead, took, first, valid, client, route, key, token, ckey, attempt)


# -- the run loop (simulation.drive) -----------------------------------------------------------------------


@njit(cache=True)
def _room(S):
    """Whether every buffer holds what the next event may need (else the caller tops them up)."""
    spos, send = S.spos, S.send
    for s in range(spos.shape[0]):
        if send[s] - spos[s] < HEADROOM:
            return False
    pi = S.pi
    for p in range(pi.shape[0]):
        s = pi[p, PI_EXP_S]
        if send[s] - spos[s] < pi[p, PI_COMPN] + HEADROOM:  # one idle expiry per busy instance
            return False
    si = S.si
    return (
        si[N_OUT] < S.oi.shape[0]
        and si[N_FLAGS] < S.ofl.shape[0]
        and si[N_REQ] < S.rqi.shape[0]
        and si[N_LV] + 4 + si[IDLE_TOTAL] <= S.lvt.shape[0]
        and si[FREE_N] > 0
        and si[PW_N] < S.pw_t.shape[0]
    )


@njit(cache=True)
def _step(S):
    """Process the agenda's next event (simpy.Environment.step, then the ledger's callback)."""
    top = S.hslot[0]
    S.sf[ENV_NOW] = S.ht[0]
    n = S.si[H_N] - 1
    S.si[H_N] = n
    _swap_agenda(S, 0, n)
    i = 0
    while True:
        left = 2 * i + 1
        if left >= n:
            break
        child = left
        if left + 1 < n and _less_agenda(S, left + 1, left):
            child = left + 1
        if not _less_agenda(S, child, i):
            break
        _swap_agenda(S, i, child)
        i = child
    ef, ei = S.evf, S.evi
    S.free[S.si[FREE_N]] = top
    S.si[FREE_N] += 1
    t, first, valid = ef[top, EF_T], ef[top, EF_FIRST], ef[top, EF_VALID]
    client, route, key, token = ei[top, EI_CLIENT], ei[top, EI_ROUTE], ei[top, EI_KEY], ei[top, EI_TOKEN]
    ckey, attempt = ei[top, EI_CKEY], ei[top, EI_ATTEMPT]
    if ei[top, EI_KIND] == ADMIT:
        _admit(S, t, first, valid, client, route, key, token, ckey, attempt,
               ef[top, EF_T0], ef[top, EF_OVER], ef[top, EF_AUTH], 0)  # fmt: skip
    else:
        _attempt(S, t, first, valid, client, route, key, token, ckey, attempt)


@njit(cache=True)
def run_window(S, times, owners, routes, keys, tokens, ckeys, valid, i, t1, final):
    """Arrivals ``i``.. of a window in time order, each after the agenda's events due by then; then the
    agenda up to ``t1`` (and with ``final``, all of it). Returns (DONE or NEED, the next arrival)."""
    n = times.shape[0]
    while i < n:
        t = times[i]
        while S.si[H_N] > 0 and S.ht[0] <= t:
            if not _room(S):
                return NEED, i
            _step(S)
        if not _room(S):
            return NEED, i
        _attempt(S, t, t, valid[i], owners[i], routes[i], keys[i], tokens[i], ckeys[i], 1)
        i += 1
    while S.si[H_N] > 0 and (final or S.ht[0] < t1):
        if not _room(S):
            return NEED, i
        _step(S)
    return DONE, i

