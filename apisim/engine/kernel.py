"""The compiled kernel: the API Gateway pipeline, the account and the function pools over arrays.

Each function here mirrors one Python component, line for line, so that both engines give the same
numbers for the same seed (``tests/test_kernel.py`` runs them side by side): the Python code is the
specification; this is the same code with its objects flattened into arrays so that Numba can
compile it. Nothing here draws random numbers: every stream's values are drawn by the Python
distribution objects (:func:`apisim.distributions.draws`) into a buffer ``B`` the kernel reads in
order, and :mod:`apisim.engine.compiled` tops it up between events. What the kernel does not cover
runs on the Python engine (see :func:`apisim.engine.engines.unsupported`).

Layout: all state is in two flat arrays, ``I`` (int64) and ``F`` (float64), made of the named
regions listed in ``INTS`` and ``FLOATS``; ``I[R_X]`` is where region ``X`` starts (in ``I`` or
``F``), and a table's row ``r`` starts ``r * width`` further on. The scalar integers (``SI + N_OUT``
…) sit right after that header, the scalar floats at the start of ``F``.

Why two flat arrays and not a tuple of ~50 arrays: every call of a helper that LLVM does not inline
copies its arguments, and a tuple of 50 arrays is ~400 machine words: measured here, 133 ns per call
against 5 ns for two arrays, and that was most of the kernel's time (1.7 µs per request → see
``benchmarks/``). Why Numba and not an ahead-of-time extension: see ``pyproject.toml``.
"""

from __future__ import annotations

import math

from numba import njit, types

# Signatures for the functions called from many places. Why: Numba otherwise compiles one copy per
# combination of literal arguments at the call sites (``_answer`` alone came to 49 copies), which made
# the first compile take 33 s; with one signature each, every call site casts to it.
_I, _F = types.int64[::1], types.float64[::1]
_f, _i = types.float64, types.int64
_REQ = (_f, _f, _f, _i, _i, _i, _i, _i, _i)  # now (or t0), first, valid, client, route, key, token, cache key, attempt
_SWAP = types.void(_I, _F, _i, _i)

# Outcomes (apisim.outcomes.Outcome), as the kernel writes them.
OK, CACHE_HIT, THROTTLED, QUOTA_EXCEEDED, UNAUTHORIZED, FORBIDDEN, INVALID = 0, 1, 2, 3, 4, 5, 6
BACKEND_THROTTLED, TIMEOUT, ERROR = 7, 8, 9
LAMBDA = 0  # apigateway.LAMBDA; any other integration kind draws its latency
EPSILON = 1e-9  # throttle.EPSILON
HEADROOM = 4  # values every stream holds before an event: no event draws more than one from a stream
N_STATUS = 600  # HTTP statuses a retry policy may name, as row width

# What the kernel returns: done, or stopped before an event because a buffer needs topping up.
DONE, NEED = 0, 1

# The regions of I and F, in order; I[R_X] is where X starts.
INTS = ("si", "spos", "send", "ci", "retry_on", "ai", "gi", "ri", "qi", "cbase", "pw_k", "pw_c", "pi", "st",
        "peaks", "hs", "hslot", "evi", "free", "oi", "ofl", "rqi", "lvw")  # fmt: skip
FLOATS = ("sf", "bk", "cf", "rf", "qf", "starts", "cttl", "cexp", "pw_t", "pf", "comp", "pcomp", "idle", "ht",
          "evf", "of", "rqf", "lvt")  # fmt: skip
(R_SI, R_SPOS, R_SEND, R_CI, R_RETRY_ON, R_AI, R_GI, R_RI, R_QI, R_CBASE, R_PW_K, R_PW_C, R_PI, R_ST, R_PEAKS,
 R_HS, R_HSLOT, R_EVI, R_FREE, R_OI, R_OFL, R_RQI, R_LVW) = range(23)  # fmt: skip
(R_SF, R_BK, R_CF, R_RF, R_QF, R_STARTS, R_CTTL, R_CEXP, R_PW_T, R_PF, R_COMP, R_PCOMP, R_IDLE, R_HT, R_EVF, R_OF,
 R_RQF, R_LVT) = range(23, 41)  # fmt: skip
NHEAD = 41
SI = NHEAD  # the scalar integers' region starts right after the header
SF = 0  # the scalar floats' region starts F

# si: scalar integers (counts, the account's busy count, heap sizes, capacities the Python side set)
(N_OUT, N_FLAGS, N_REQ, N_LV, H_N, SEQ, FREE_N, PW_N, ACC_BUSY, ACC_LIMIT, TRACK, ACC_BUCKET, IDLE_TOTAL,
 N_STREAMS, N_POOLS, CAP_OUT, CAP_FLAGS, CAP_REQ, CAP_LV, CAP_PW) = range(20)  # fmt: skip
N_SI = 20
# sf: scalar floats
ENV_NOW, WARMUP, END = range(3)
# ci, cf: clients
CI_API, CI_STAGE, CI_PLAN, CI_PLAN_BUCKET0, CI_QUOTA0, CI_RETRY_MAX, CI_BACKOFF_EXP, CI_JITTER, CI_JITTER_S = range(9)
NCI = 9
CF_BASE, CF_CAP = range(2)
NCF = 2
# ai: APIs
AI_OVERHEAD_S, AI_AUTH, AI_AUTH_POOL, AI_AUTH_CACHE, AI_DENY_BELOW, AI_AUTH_LAT_S, AI_UNAUTH, AI_KEY_SPACE = range(8)
NAI = 8
# gi: stages
GI_ROUTE0, GI_CACHE, GI_HIT_S = range(3)
NGI = 3
# ri, rf: a route on a stage
RI_BUCKET, RI_CACHED, RI_KIND, RI_POOL, RI_LAT_S, RI_FAIL_S, RI_INDEX = range(7)
NRI = 7
RF_INVALID, RF_ERROR, RF_TIMEOUT = range(3)
NRF = 3
# qi, qf: quotas (one per usage plan and API key)
QI_CUR, QI_USED, QI_LIMIT, QI_OFFSET, QI_STARTS0, QI_NSTARTS = range(6)
NQI = 6
QF_LO, QF_HI, QF_AT = range(3)
NQF = 3
# bk: token buckets
BK_TOKENS, BK_LAST, BK_RATE, BK_BURST = range(4)
NBK = 4
# pi, pf: function pools
(PI_RESERVED, PI_PROV, PI_PROV_IDLE, PI_BUSY, PI_ACCOUNT, PI_INVOKE_RATE, PI_ACCOUNT_RATE, PI_PROV_RATE, PI_SCALING,
 PI_DUR_S, PI_COLD_S, PI_EXP_S, PI_FAIL_S, PI_INIT_BILLED, PI_COMP0, PI_COMPN, PI_PCOMP0, PI_PCOMPN, PI_IDLE0,
 PI_IDLEN, PI_PEAK0, PI_NPEAKS, PI_CAP) = range(23)  # fmt: skip
NPI = 23
GROW_ROOM = 2  # instances an event may add to one pool (an authorizer and an integration on one function)
PF_ERROR, PF_TIMEOUT, PF_INIT_LIMIT, PF_INV_WIDTH = range(4)
NPF = 4
# st: FunctionStats' fields, in order
(ST_INVOCATIONS, ST_COLD, ST_THROTTLES, ST_THR_SCALING, ST_THR_RATE, ST_ERRORS, ST_BILLED_OD, ST_BILLED_PROV,
 ST_PROV_INV, ST_PEAK) = range(10)  # fmt: skip
NST = 10
# evf, evi: a request waiting on the agenda (for its authorizer's answer, or to be retried)
EF_T, EF_T0, EF_OVER, EF_AUTH, EF_FIRST, EF_VALID = range(6)
NEF = 6
EI_KIND, EI_CLIENT, EI_ROUTE, EI_KEY, EI_TOKEN, EI_CKEY, EI_ATTEMPT = range(7)
NEI = 7
ADMIT, RETRY = 0, 1
# outputs: of (start, latency) and oi (outcome, status, client) per attempt; rqf, rqi per request
NOF, NOI, NRQ = 2, 3, 2
# lvw: which level a logged change is: pool × 4 + one of these
BUSY_UP, BUSY_DOWN, LIVE_UP, LIVE_DOWN = range(4)


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


@njit(_SWAP, cache=True)
def _swap_pending(I, F, i, j):
    t, k, c = I[R_PW_T], I[R_PW_K], I[R_PW_C]
    F[t + i], F[t + j] = F[t + j], F[t + i]
    I[k + i], I[k + j] = I[k + j], I[k + i]
    I[c + i], I[c + j] = I[c + j], I[c + i]


@njit(types.boolean(_I, _F, _i, _i), cache=True)
def _less_agenda(I, F, i, j):
    # SimPy's order: time, then the order events were scheduled in.
    ht, hs = I[R_HT], I[R_HS]
    return F[ht + i] < F[ht + j] or (F[ht + i] == F[ht + j] and I[hs + i] < I[hs + j])


@njit(_SWAP, cache=True)
def _swap_agenda(I, F, i, j):
    ht, hs, hslot = I[R_HT], I[R_HS], I[R_HSLOT]
    F[ht + i], F[ht + j] = F[ht + j], F[ht + i]
    I[hs + i], I[hs + j] = I[hs + j], I[hs + i]
    I[hslot + i], I[hslot + j] = I[hslot + j], I[hslot + i]


# -- random streams and token buckets ----------------------------------------------------------------


@njit(cache=True)
def _draw(I, B, s):
    """The next value of stream ``s`` (a distributions.draws supply)."""
    at = I[R_SPOS] + s
    v = B[I[at]]
    I[at] += 1
    return v


@njit(cache=True)
def _take(I, F, b, now):
    """throttle.TokenBucket.try_take."""
    o = I[R_BK] + b * NBK
    tokens = F[o + BK_TOKENS] + (now - F[o + BK_LAST]) * F[o + BK_RATE]
    if tokens > F[o + BK_BURST]:
        tokens = F[o + BK_BURST]
    F[o + BK_LAST] = now
    if tokens >= 1.0 - EPSILON:
        F[o + BK_TOKENS] = tokens - 1.0
        return True
    F[o + BK_TOKENS] = tokens
    return False


@njit(cache=True)
def _quota_take(I, F, q, now):
    """throttle.Quota.try_take, with months.CalendarPeriods.containing."""
    qi = I[R_QI] + q * NQI
    qf = I[R_QF] + q * NQF
    t = now + F[qf + QF_AT]
    if not (F[qf + QF_LO] <= t < F[qf + QF_HI]):
        if t < 0:
            cur, lo, hi = -1, -math.inf, 0.0
        else:
            base, n = I[R_STARTS] + I[qi + QI_STARTS0], I[qi + QI_NSTARTS]
            if t < F[base + n - 1]:
                lo_i, hi_i = 0, n - 1
                while lo_i < hi_i:
                    mid = (lo_i + hi_i + 1) // 2
                    if F[base + mid] <= t:
                        lo_i = mid
                    else:
                        hi_i = mid - 1
                cur = lo_i
            else:
                cur = n - 1
            lo = F[base + cur]
            hi = F[base + cur + 1] if cur + 1 < n else math.inf
        I[qi + QI_CUR] = cur
        F[qf + QF_LO] = lo
        F[qf + QF_HI] = hi
        I[qi + QI_USED] = 0
    allowed = I[qi + QI_LIMIT] - (I[qi + QI_OFFSET] if I[qi + QI_CUR] == 0 else 0)
    if I[qi + QI_USED] < allowed:
        I[qi + QI_USED] += 1
        return True
    return False


# -- caches (cache.TtlCache), with one heap of pending writes for every cache -----------------------------
# Why one heap: a TTL cache's answers depend only on the writes due by the lookup's time, applied in
# time order; applying every cache's due writes at any lookup changes no answer and keeps one heap.


@njit(cache=True)
def _cache_store(I, F, c, key, at):
    """TtlCache.store: the write lands at ``at``."""
    n = I[SI + PW_N]
    pt = I[R_PW_T]
    F[pt + n] = at
    I[I[R_PW_K] + n] = I[I[R_CBASE] + c] + key
    I[I[R_PW_C] + n] = c
    i = n
    while i > 0:
        parent = (i - 1) >> 1
        if F[pt + parent] <= F[pt + i]:
            break
        _swap_pending(I, F, parent, i)
        i = parent
    I[SI + PW_N] = n + 1


@njit(cache=True)
def _cache_lookup(I, F, c, key, now):
    """TtlCache.lookup: apply the writes due by ``now``, then whether ``key`` is live."""
    pt, pk, pc = I[R_PW_T], I[R_PW_K], I[R_PW_C]
    cexp = I[R_CEXP]
    while I[SI + PW_N] > 0 and F[pt] <= now:
        written, k, cc = F[pt], I[pk], I[pc]
        n = I[SI + PW_N] - 1
        I[SI + PW_N] = n
        F[pt], I[pk], I[pc] = F[pt + n], I[pk + n], I[pc + n]
        i = 0
        while True:
            left = 2 * i + 1
            if left >= n:
                break
            child = left
            if left + 1 < n and F[pt + left + 1] < F[pt + left]:
                child = left + 1
            if F[pt + i] <= F[pt + child]:
                break
            _swap_pending(I, F, i, child)
            i = child
        F[cexp + k] = written + F[I[R_CTTL] + cc]
    return now < F[cexp + I[I[R_CBASE] + c] + key]  # an absent key's expiry is -inf


# -- function pools (functions.FunctionPool, AccountPool) ------------------------------------------------


@njit(cache=True)
def _advance(I, F, B, p, now):
    """FunctionPool.advance: completions due by ``now`` go idle, newest on top."""
    po = I[R_PI] + p * NPI
    done = 0
    comp = I[R_COMP] + I[po + PI_COMP0]
    if I[po + PI_COMPN] > 0 and F[comp] <= now:
        exp_s = I[po + PI_EXP_S]
        idle = I[R_IDLE] + I[po + PI_IDLE0]
        while I[po + PI_COMPN] > 0 and F[comp] <= now:
            t = _pop_time(F, comp, I[po + PI_COMPN])
            I[po + PI_COMPN] -= 1
            F[idle + I[po + PI_IDLEN]] = t + _draw(I, B, exp_s)
            I[po + PI_IDLEN] += 1
            I[SI + IDLE_TOTAL] += 1
            done += 1
    if done and I[po + PI_ACCOUNT]:
        I[SI + ACC_BUSY] -= done
    pcomp = I[R_PCOMP] + I[po + PI_PCOMP0]
    while I[po + PI_PCOMPN] > 0 and F[pcomp] <= now:
        _pop_time(F, pcomp, I[po + PI_PCOMPN])
        I[po + PI_PCOMPN] -= 1
        I[po + PI_PROV_IDLE] += 1
        done += 1
    if done:
        I[po + PI_BUSY] -= done


@njit(types.void(_I, _F, _i, _i, _f), cache=True)
def _log_level(I, F, p, which, t):
    """LevelLog.up / .down, as one row the Python side folds into the pool's logs."""
    n = I[SI + N_LV]
    F[I[R_LVT] + n] = t
    I[I[R_LVW] + n] = p * 4 + which
    I[SI + N_LV] = n + 1


@njit(cache=True)
def _invoke(I, F, B, p, now, counted):
    """FunctionPool.invoke: (admitted, cold, init seconds, run seconds, failed)."""
    po = I[R_PI] + p * NPI
    pf = I[R_PF] + p * NPF
    st = I[R_ST] + p * NST
    if (I[po + PI_COMPN] > 0 and F[I[R_COMP] + I[po + PI_COMP0]] <= now) or (
        I[po + PI_PCOMPN] > 0 and F[I[R_PCOMP] + I[po + PI_PCOMP0]] <= now
    ):
        _advance(I, F, B, p, now)
    invoke_rate, account_rate = I[po + PI_INVOKE_RATE], I[po + PI_ACCOUNT_RATE]
    if (invoke_rate >= 0 and not _take(I, F, invoke_rate, now)) or (
        account_rate >= 0 and not _take(I, F, account_rate, now)
    ):
        if counted:
            I[st + ST_THROTTLES] += 1
            I[st + ST_THR_RATE] += 1
        return False, False, 0.0, 0.0, False
    prov_rate = I[po + PI_PROV_RATE]
    provisioned = I[po + PI_PROV_IDLE] > 0 and (prov_rate < 0 or _take(I, F, prov_rate, now))
    reserved = I[po + PI_RESERVED]
    if reserved >= 0:
        prov = I[po + PI_PROV]
        admitted = provisioned or (I[po + PI_BUSY] - prov + I[po + PI_PROV_IDLE] < reserved - prov)
    elif provisioned:
        admitted = True
    elif not I[po + PI_ACCOUNT]:
        admitted = True
    elif I[SI + ACC_BUSY] < I[SI + ACC_LIMIT]:
        admitted = True
    else:  # AccountPool.has_room: the shared count may be stale, only ever too high
        for q in range(I[SI + N_POOLS]):
            if I[I[R_PI] + q * NPI + PI_ACCOUNT]:
                _advance(I, F, B, q, now)
        admitted = I[SI + ACC_BUSY] < I[SI + ACC_LIMIT]
    if not admitted:
        if counted:
            I[st + ST_THROTTLES] += 1
            if I[po + PI_PROV_IDLE]:
                I[st + ST_THR_RATE] += 1
        return False, False, 0.0, 0.0, False
    cold = False
    if provisioned:
        I[po + PI_PROV_IDLE] -= 1
    else:
        reused = False
        idle = I[R_IDLE] + I[po + PI_IDLE0]
        while I[po + PI_IDLEN] > 0:
            I[po + PI_IDLEN] -= 1
            I[SI + IDLE_TOTAL] -= 1
            expires = F[idle + I[po + PI_IDLEN]]
            if expires > now:
                reused = True
                break
            _log_level(I, F, p, LIVE_DOWN, expires)  # it had expired while idle
        if not reused:
            if not _take(I, F, I[po + PI_SCALING], now):
                if counted:
                    I[st + ST_THROTTLES] += 1
                    I[st + ST_THR_SCALING] += 1
                return False, False, 0.0, 0.0, False
            cold = True
            _log_level(I, F, p, LIVE_UP, now)
    init = _draw(I, B, I[po + PI_COLD_S]) if cold else 0.0
    run = _draw(I, B, I[po + PI_DUR_S])
    if init > F[pf + PF_INIT_LIMIT]:
        run += init
        init = F[pf + PF_INIT_LIMIT]
    failed = False
    if run > F[pf + PF_TIMEOUT]:
        run = F[pf + PF_TIMEOUT]
        failed = True
    elif F[pf + PF_ERROR] and _draw(I, B, I[po + PI_FAIL_S]) < F[pf + PF_ERROR]:
        failed = True
    billed_s = run + init if cold and I[po + PI_INIT_BILLED] else run
    billed_ms = math.ceil(billed_s * 1000.0 - 1e-9)
    if billed_ms == 0:
        billed_ms = 1
    end = now + init + run
    if provisioned:
        I[po + PI_PCOMPN] = _push_time(F, I[R_PCOMP] + I[po + PI_PCOMP0], I[po + PI_PCOMPN], end)
    else:
        I[po + PI_COMPN] = _push_time(F, I[R_COMP] + I[po + PI_COMP0], I[po + PI_COMPN], end)
    busy = I[po + PI_BUSY] + 1
    I[po + PI_BUSY] = busy
    if I[po + PI_ACCOUNT] and not provisioned:
        I[SI + ACC_BUSY] += 1
    _log_level(I, F, p, BUSY_UP, now)
    _log_level(I, F, p, BUSY_DOWN, end)
    bucket = int(now * F[pf + PF_INV_WIDTH])
    if bucket < I[po + PI_NPEAKS]:
        peak = I[R_PEAKS] + I[po + PI_PEAK0] + bucket
        if busy > I[peak]:
            I[peak] = busy
    if counted:
        I[st + ST_INVOCATIONS] += 1
        if busy > I[st + ST_PEAK]:
            I[st + ST_PEAK] = busy
        if cold:
            I[st + ST_COLD] += 1
        if failed:
            I[st + ST_ERRORS] += 1
        if provisioned:
            I[st + ST_PROV_INV] += 1
            I[st + ST_BILLED_PROV] += billed_ms
        else:
            I[st + ST_BILLED_OD] += billed_ms
    return True, cold, init, run, failed


@njit(cache=True)
def finish_pools(I, F, B, end):
    """FunctionPool.finish for every pool: idle instances that expired by ``end`` are gone."""
    for p in range(I[SI + N_POOLS]):
        _advance(I, F, B, p, end)
        po = I[R_PI] + p * NPI
        idle = I[R_IDLE] + I[po + PI_IDLE0]
        n = I[po + PI_IDLEN]
        kept = 0
        for k in range(n):
            t = F[idle + k]
            if t <= end:
                _log_level(I, F, p, LIVE_DOWN, t)
            else:
                F[idle + kept] = t
                kept += 1
        I[po + PI_IDLEN] = kept
        I[SI + IDLE_TOTAL] -= n - kept


# -- the ledger (ledger.Ledger) -------------------------------------------------------------------


@njit(types.void(_I, _F, _f, _i, _f, _f, _f, _f, _f, _i, _i, _i, _i, _i, _i), cache=True)
def _schedule(I, F, t, kind, t0, overhead, auth_s, first, valid, client, route, key, token, ckey, attempt):
    """Ledger.at: the request waits on the agenda until ``t`` (SimPy's clock arithmetic, exactly)."""
    now = F[SF + ENV_NOW]
    delay = t - now
    if not delay > 0.0:
        delay = 0.0
    I[SI + FREE_N] -= 1
    slot = I[I[R_FREE] + I[SI + FREE_N]]
    ef = I[R_EVF] + slot * NEF
    ei = I[R_EVI] + slot * NEI
    F[ef + EF_T], F[ef + EF_T0], F[ef + EF_OVER], F[ef + EF_AUTH] = t, t0, overhead, auth_s
    F[ef + EF_FIRST], F[ef + EF_VALID] = first, valid
    I[ei + EI_KIND], I[ei + EI_CLIENT], I[ei + EI_ROUTE], I[ei + EI_KEY] = kind, client, route, key
    I[ei + EI_TOKEN], I[ei + EI_CKEY], I[ei + EI_ATTEMPT] = token, ckey, attempt
    n = I[SI + H_N]
    F[I[R_HT] + n] = now + delay
    I[I[R_HS] + n] = I[SI + SEQ]
    I[I[R_HSLOT] + n] = slot
    I[SI + SEQ] += 1
    i = n
    while i > 0:
        parent = (i - 1) >> 1
        if not _less_agenda(I, F, i, parent):
            break
        _swap_agenda(I, F, parent, i)
        i = parent
    I[SI + H_N] = n + 1


@njit(types.void(_I, _F, _F, *_REQ, _i, _i, _f, _f, _f, _i, _i), cache=True)
def _answer(I, F, B, t0, first, valid, client, route, key, token, ckey, attempt,
            outcome, status, overhead, auth_s, integration_s, auth_hit, cache):  # fmt: skip
    """Ledger.answer: the attempt's row, its cache facts, and the client's retry or the request's end."""
    latency = overhead + auth_s + integration_s
    n = I[SI + N_OUT]
    of = I[R_OF] + n * NOF
    oi = I[R_OI] + n * NOI
    F[of], F[of + 1] = t0, latency
    I[oi], I[oi + 1], I[oi + 2] = outcome, status, client
    I[SI + N_OUT] = n + 1
    if (auth_hit != -1 or cache != -1) and t0 >= F[SF + WARMUP]:
        I[I[R_OFL] + I[SI + N_FLAGS]] = client * 9 + (auth_hit + 1) * 3 + cache + 1
        I[SI + N_FLAGS] += 1
    ci = I[R_CI] + client * NCI
    most = I[ci + CI_RETRY_MAX]
    if most > 1 and I[I[R_RETRY_ON] + client * N_STATUS + status] and attempt < most:
        # RetryPolicy.delay
        cf = I[R_CF] + client * NCF
        d = F[cf + CF_BASE] * (2.0 ** (attempt - 1)) if I[ci + CI_BACKOFF_EXP] else F[cf + CF_BASE]
        if d > F[cf + CF_CAP]:
            d = F[cf + CF_CAP]
        jitter = I[ci + CI_JITTER]
        if jitter == 1:
            d = d * _draw(I, B, I[ci + CI_JITTER_S])
        elif jitter == 2:
            d = d / 2 + d / 2 * _draw(I, B, I[ci + CI_JITTER_S])
        again = t0 + latency + d
        if again < F[SF + END]:
            _schedule(I, F, again, RETRY, again, 0.0, 0.0, first, valid, client, route, key, token, ckey, attempt + 1)
            return
    if I[SI + TRACK]:
        m = I[SI + N_REQ]
        rf = I[R_RQF] + m * NRQ
        ri = I[R_RQI] + m * NRQ
        F[rf], F[rf + 1] = first, t0 + latency - first
        I[ri], I[ri + 1] = outcome, attempt
        I[SI + N_REQ] = m + 1


# -- the API Gateway door (apigateway.ApiGateway) ---------------------------------------------------------


@njit(types.void(_I, _F, _F, *_REQ, _i, _i, _f, _f, _f, _i, _i), cache=True)
def _integrate(I, F, B, now, first, valid, client, route, key, token, ckey, attempt,
               r, g, t0, overhead, auth_s, auth_hit, cache_key):  # fmt: skip
    """ApiGateway._integrate."""
    ri = I[R_RI] + r * NRI
    rf = I[R_RF] + r * NRF
    timeout = F[rf + RF_TIMEOUT]
    cache = 0 if cache_key >= 0 else -1
    if I[ri + RI_KIND] == LAMBDA:
        ok, _cold, init, run, failed = _invoke(I, F, B, I[ri + RI_POOL], now, t0 >= F[SF + WARMUP])
        if not ok:
            _answer(I, F, B, t0, first, valid, client, route, key, token, ckey, attempt,
                    BACKEND_THROTTLED, 500, overhead, auth_s, 0.0, auth_hit, cache)  # fmt: skip
            return
        took = init + run
        failed_now = failed
    else:
        took = _draw(I, B, I[ri + RI_LAT_S])
        failed_now = False
        if not took > timeout and F[rf + RF_ERROR]:
            failed_now = _draw(I, B, I[ri + RI_FAIL_S]) < F[rf + RF_ERROR]
    if took > timeout:
        _answer(I, F, B, t0, first, valid, client, route, key, token, ckey, attempt,
                TIMEOUT, 504, overhead, auth_s, timeout, auth_hit, cache)  # fmt: skip
    elif failed_now:
        _answer(I, F, B, t0, first, valid, client, route, key, token, ckey, attempt,
                ERROR, 502, overhead, auth_s, took, auth_hit, cache)  # fmt: skip
    else:
        if cache_key >= 0:
            _cache_store(I, F, I[I[R_GI] + g * NGI + GI_CACHE], cache_key, now + took)
        _answer(I, F, B, t0, first, valid, client, route, key, token, ckey, attempt,
                OK, 200, overhead, auth_s, took, auth_hit, cache)  # fmt: skip


@njit(types.void(_I, _F, _F, *_REQ, _f, _f, _f, _i), cache=True)
def _admit(I, F, B, now, first, valid, client, route, key, token, ckey, attempt, t0, overhead, auth_s, auth_hit):
    """ApiGateway._admit: throttles, quota, validation, cache and integration, all at ``now``."""
    ci = I[R_CI] + client * NCI
    g = I[ci + CI_STAGE]
    gi = I[R_GI] + g * NGI
    r = I[gi + GI_ROUTE0] + route
    ri = I[R_RI] + r * NRI
    plan = I[ci + CI_PLAN]
    refused = -1
    if plan and I[ci + CI_PLAN_BUCKET0] >= 0 and not _take(I, F, I[ci + CI_PLAN_BUCKET0] + key, now):
        refused = THROTTLED
    elif I[ri + RI_BUCKET] >= 0 and not _take(I, F, I[ri + RI_BUCKET], now):
        refused = THROTTLED
    elif not _take(I, F, I[SI + ACC_BUCKET], now):
        refused = THROTTLED
    elif plan and I[ci + CI_QUOTA0] >= 0 and not _quota_take(I, F, I[ci + CI_QUOTA0] + key, now):
        refused = QUOTA_EXCEEDED
    if refused >= 0:
        _answer(I, F, B, t0, first, valid, client, route, key, token, ckey, attempt,
                refused, 429, overhead, auth_s, 0.0, auth_hit, -1)  # fmt: skip
        return
    invalid = F[I[R_RF] + r * NRF + RF_INVALID]
    if invalid and valid < invalid:
        _answer(I, F, B, t0, first, valid, client, route, key, token, ckey, attempt,
                INVALID, 400, overhead, auth_s, 0.0, auth_hit, -1)  # fmt: skip
        return
    cache_key = -1
    if I[ri + RI_CACHED]:
        cache_key = I[ri + RI_INDEX] * I[I[R_AI] + I[ci + CI_API] * NAI + AI_KEY_SPACE] + ckey
        if _cache_lookup(I, F, I[gi + GI_CACHE], cache_key, now):
            hit = _draw(I, B, I[gi + GI_HIT_S])
            _answer(I, F, B, t0, first, valid, client, route, key, token, ckey, attempt,
                    CACHE_HIT, 200, overhead, auth_s, hit, auth_hit, 1)  # fmt: skip
            return
    _integrate(I, F, B, now, first, valid, client, route, key, token, ckey, attempt,
               r, g, t0, overhead, auth_s, auth_hit, cache_key)  # fmt: skip


@njit(types.void(_I, _F, _F, *_REQ), cache=True)
def _attempt(I, F, B, now, first, valid, client, route, key, token, ckey, attempt):
    """ApiGateway.attempt and ._authorize."""
    ci = I[R_CI] + client * NCI
    ai = I[R_AI] + I[ci + CI_API] * NAI
    overhead = _draw(I, B, I[ai + AI_OVERHEAD_S])
    if I[ci + CI_PLAN] and key < 0:
        _answer(I, F, B, now, first, valid, client, route, key, token, ckey, attempt,
                FORBIDDEN, 403, overhead, 0.0, 0.0, -1, -1)  # fmt: skip
        return
    kind = I[ai + AI_AUTH]
    if kind == 0:
        _admit(I, F, B, now, first, valid, client, route, key, token, ckey, attempt, now, overhead, 0.0, -1)
        return
    if kind == 2:  # cognito, IAM, JWT: latency only
        delay = _draw(I, B, I[ai + AI_AUTH_LAT_S])
        if token < 0:
            unauthorized = I[ai + AI_UNAUTH]
            _answer(I, F, B, now, first, valid, client, route, key, token, ckey, attempt, unauthorized,
                    401 if unauthorized == UNAUTHORIZED else 403, overhead, delay, 0.0, -1, -1)  # fmt: skip
        else:
            _admit(I, F, B, now, first, valid, client, route, key, token, ckey, attempt, now, overhead, delay, -1)
        return
    # A Lambda authorizer, and its result cache.
    c = I[ai + AI_AUTH_CACHE]
    deny_below = I[ai + AI_DENY_BELOW]
    if token >= 0 and c >= 0 and _cache_lookup(I, F, c, token, now):
        if token < deny_below:
            _answer(I, F, B, now, first, valid, client, route, key, token, ckey, attempt,
                    FORBIDDEN, 403, overhead, 0.0, 0.0, 1, -1)  # fmt: skip
        else:
            _admit(I, F, B, now, first, valid, client, route, key, token, ckey, attempt, now, overhead, 0.0, 1)
        return
    ok, _cold, init, run, failed = _invoke(I, F, B, I[ai + AI_AUTH_POOL], now, now >= F[SF + WARMUP])
    if not ok:
        _answer(I, F, B, now, first, valid, client, route, key, token, ckey, attempt,
                BACKEND_THROTTLED, 500, overhead, 0.0, 0.0, 0, -1)  # fmt: skip
        return
    took = init + run
    if failed:
        _answer(I, F, B, now, first, valid, client, route, key, token, ckey, attempt,
                ERROR, 500, overhead, took, 0.0, 0, -1)  # fmt: skip
        return
    if token < 0:
        _answer(I, F, B, now, first, valid, client, route, key, token, ckey, attempt,
                UNAUTHORIZED, 401, overhead, took, 0.0, 0, -1)  # fmt: skip
        return
    if c >= 0:
        _cache_store(I, F, c, token, now + took)
    if token < deny_below:
        _answer(I, F, B, now, first, valid, client, route, key, token, ckey, attempt,
                FORBIDDEN, 403, overhead, took, 0.0, 0, -1)  # fmt: skip
        return
    _schedule(I, F, now + took, ADMIT, now, overhead, took, first, valid, client, route, key, token, ckey, attempt)


# -- the run loop (simulation.drive) -----------------------------------------------------------------------


@njit(cache=True)
def _room(I):
    """Whether every buffer holds what the next event may need (else the caller tops them up)."""
    spos, send = I[R_SPOS], I[R_SEND]
    for s in range(I[SI + N_STREAMS]):
        if I[send + s] - I[spos + s] < HEADROOM:
            return False
    busy = 0
    for p in range(I[SI + N_POOLS]):
        po = I[R_PI] + p * NPI
        s = I[po + PI_EXP_S]
        busy += I[po + PI_COMPN]
        if I[send + s] - I[spos + s] < I[po + PI_COMPN] + HEADROOM:  # one idle expiry per busy instance
            return False
        if I[po + PI_COMPN] + I[po + PI_IDLEN] + GROW_ROOM > I[po + PI_CAP]:  # room for its instances
            return False
    return (
        I[SI + N_OUT] < I[SI + CAP_OUT]
        and I[SI + N_FLAGS] < I[SI + CAP_FLAGS]
        and I[SI + N_REQ] < I[SI + CAP_REQ]
        # an event may expire every idle instance and every busy one that finishes first: one entry each
        and I[SI + N_LV] + 4 + I[SI + IDLE_TOTAL] + busy <= I[SI + CAP_LV]
        and I[SI + FREE_N] > 0
        and I[SI + PW_N] < I[SI + CAP_PW]
    )


@njit(cache=True)
def _step(I, F, B):
    """Process the agenda's next event (simpy.Environment.step, then the ledger's callback)."""
    ht, hslot = I[R_HT], I[R_HSLOT]
    top = I[hslot]
    F[SF + ENV_NOW] = F[ht]
    n = I[SI + H_N] - 1
    I[SI + H_N] = n
    _swap_agenda(I, F, 0, n)
    i = 0
    while True:
        left = 2 * i + 1
        if left >= n:
            break
        child = left
        if left + 1 < n and _less_agenda(I, F, left + 1, left):
            child = left + 1
        if not _less_agenda(I, F, child, i):
            break
        _swap_agenda(I, F, i, child)
        i = child
    I[I[R_FREE] + I[SI + FREE_N]] = top
    I[SI + FREE_N] += 1
    ef = I[R_EVF] + top * NEF
    ei = I[R_EVI] + top * NEI
    t, first, valid = F[ef + EF_T], F[ef + EF_FIRST], F[ef + EF_VALID]
    client, route, key, token = I[ei + EI_CLIENT], I[ei + EI_ROUTE], I[ei + EI_KEY], I[ei + EI_TOKEN]
    ckey, attempt = I[ei + EI_CKEY], I[ei + EI_ATTEMPT]
    if I[ei + EI_KIND] == ADMIT:
        _admit(I, F, B, t, first, valid, client, route, key, token, ckey, attempt,
               F[ef + EF_T0], F[ef + EF_OVER], F[ef + EF_AUTH], 0)  # fmt: skip
    else:
        _attempt(I, F, B, t, first, valid, client, route, key, token, ckey, attempt)


@njit(cache=True)
def run_window(I, F, B, times, owners, routes, keys, tokens, ckeys, valid, i, t1, final):
    """Arrivals ``i``.. of a window in time order, each after the agenda's events due by then; then the
    agenda up to ``t1`` (and with ``final``, all of it). Returns (DONE or NEED, the next arrival)."""
    n = times.shape[0]
    while i < n:
        t = times[i]
        while I[SI + H_N] > 0 and F[I[R_HT]] <= t:
            if not _room(I):
                return NEED, i
            _step(I, F, B)
        if not _room(I):
            return NEED, i
        _attempt(I, F, B, t, t, valid[i], owners[i], routes[i], keys[i], tokens[i], ckeys[i], 1)
        i += 1
    while I[SI + H_N] > 0 and (final or F[I[R_HT]] < t1):
        if not _room(I):
            return NEED, i
        _step(I, F, B)
    return DONE, i
