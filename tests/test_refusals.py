"""Vendor refusals as agents log them -> vendor, kind, window, reset instant.

Every text below was seen in the wild (or is a documented template filled in);
the source is on each row. Times: ``AT`` is when the agent logged the refusal.
"""

from __future__ import annotations

import pytest

from analyzer.contract.refusals import Refusal, read_refusal

AT = "2026-10-03T17:40:00.000Z"  # 2026-10-04 01:40 in China, a Saturday in UTC

# (id, what the agent logged, extra arguments, expected: vendor, kind, window, reset_at)
CASES = [
    # --- GLM (z.ai / open.bigmodel.cn): docs.bigmodel.cn/cn/api/api-code, docs.z.ai/api-reference/api-code
    (
        "glm-1308-claude-code",  # issue 13: Claude Code's synthetic line text
        'API Error: 429 {"type":"error","error":{"type":"1308","message":"Usage limit reached for 5 hour. '
        'Your limit will reset at 2026-10-04 03:00:00"}}',
        {},
        ("zai", "quota", "five_hour", "2026-10-03T19:00:00.000Z"),
    ),
    (
        "glm-1308-claude-code-bracket",  # Claude Code's newer rendering (seen in a classifier's comment, 2026-10)
        "API Error: Request rejected (429) · [1308][Usage limit reached for 5 hour. Your limit will reset at "
        "2026-10-04 03:00:00][20261004014000e1a2b3c4]",
        {},
        ("zai", "quota", "five_hour", "2026-10-03T19:00:00.000Z"),
    ),
    (
        "glm-1308-json-body",  # OpenAI-style body (dirge-code/dirge#818, zsiga fix note)
        '{"error":{"code":"1308","message":"Usage limit reached for 5 hour. Your limit will reset at 2026-10-04 03:00:00"}}',
        {},
        ("zai", "quota", "five_hour", "2026-10-03T19:00:00.000Z"),
    ),
    (
        "glm-1308-chinese",  # open.bigmodel.cn wording (oh-my-pi#11014)
        "429 已达到 5 小时的使用上限。您的限额将在 2026-10-04 03:00:00 重置。 (type=1308)",
        {},
        ("zai", "quota", "five_hour", "2026-10-03T19:00:00.000Z"),
    ),
    (
        "glm-1308-openai-sdk",  # the SDK keeps only "<status> <message>": the code is gone, the words remain
        "429 Usage limit reached for 5 hour. Your limit will reset at 2026-10-04 03:00:00",
        {},
        ("zai", "quota", "five_hour", "2026-10-03T19:00:00.000Z"),
    ),
    (
        "glm-1310-weekly",  # api.z.ai coding endpoint, verbatim in an issue (HTTP 429)
        '{"error":{"code":"1310","message":"Weekly/Monthly Limit Exhausted. Your limit will reset at 2026-10-08 05:53:09"}}',
        {},
        ("zai", "quota", "weekly", "2026-10-07T21:53:09.000Z"),
    ),
    (
        "glm-1310-chinese-monthly-by-reset",  # docs template; a reset 12 days away is the monthly one
        '429: {"code":"1310","message":"您已达到每周/每月使用上限，您的限额将在 2026-10-16 00:00:00 重置。"}',
        {},
        ("zai", "quota", "monthly", "2026-10-15T16:00:00.000Z"),
    ),
    (
        "glm-1302-concurrency",
        '{"error":{"code":"1302","message":"High concurrency usage of this API, please reduce concurrency or contact customer service to increase limits"}}',
        {},
        ("zai", "concurrency", None, None),
    ),
    (
        "glm-1303-frequency",
        '{"error":{"code":"1303","message":"您当前使用该 API 的频率过高，请降低频率，或联系客服增加限额"}}',
        {},
        ("zai", "rate_limit", None, None),
    ),
    (
        "glm-1304-daily",  # "today's call cap": next midnight, China time
        '{"error":{"code":"1304","message":"该 API 已达今日调用次数限额，如有更多需求，请联系客服购买"}}',
        {},
        ("zai", "quota", "daily", "2026-10-04T16:00:00.000Z"),
    ),
    (
        "glm-1309-expired",
        '{"error":{"code":"1309","message":"Your GLM Coding Plan package has expired"}}',
        {},
        ("zai", "expired", None, None),
    ),
    (
        "glm-1313-fair-use",  # zai-org/GLM-5#77, Claude Code rendering
        "API Error: Request rejected (429) · [1313][Your account's current usage pattern does not comply with the Fair "
        "Usage Policy, and your request frequency has been limited. For details, please refer to the Subscription "
        "Service Agreement. To restore access, please submit a request.][20260610204201088e4da7a3644b8c]",
        {},
        ("zai", "fair_use", None, None),
    ),
    # --- Kimi (Moonshot): kimi-code-format.md 2.9, openclaw PR #142656, kimi-code#3014, cc-haha#1208, sub2api#6203
    (
        "kimi-5h-kimi-code",
        "403 You've reached your 5-hour usage limit. Your quota will reset when the current "
        "5-hour window ends. To continue now, purchase extra usage or upgrade your plan: https://www.kimi.com/membership/subscription",
        {},
        ("moonshot", "quota", "five_hour", None),
    ),
    (
        "kimi-weekly",
        "403 You've reached your weekly (7-day) usage limit. Your quota will reset when the current 7-day window ends.",
        {},
        ("moonshot", "quota", "weekly", None),
    ),
    (
        "kimi-weekly-with-stamp",  # a hub's fixture of the Anthropic-endpoint body (2026-10)
        '{"type":"error","error":{"type":"permission_error","message":"You\'ve reached your weekly (7-day) usage limit. '
        'Your quota will reset at 12-31 23:59:00 UTC"}}',
        {},
        ("moonshot", "quota", "weekly", "2026-12-31T23:59:00.000Z"),
    ),
    (
        "kimi-billing-cycle-claude-code",  # cc-haha#1208: Claude Code against Kimi's Anthropic endpoint
        'Failed to authenticate. API Error: 403 {"error":{"type":"permission_error","message":"You\'ve reached your usage '
        "limit for this billing cycle. Your quota will be refreshed in the next cycle. To continue now, purchase extra "
        'usage or upgrade your plan: https://www.kimi.com/code/#pricing"},"type":"error"}',
        {},
        ("moonshot", "quota", None, None),
    ),
    ("kimi-monthly", "403 You've reached your monthly usage limit.", {}, ("moonshot", "quota", "monthly", None)),
    (
        "kimi-concurrency",
        "403 You've reached your concurrent request limit. Please wait for your ongoing requests "
        "to finish and try again.",
        {},
        ("moonshot", "concurrency", None, None),
    ),
    (
        "kimi-transient-429",  # kimi-cli#901: a rate limit, not a plan window
        '429 {"error":{"message":"We\'re receiving too many requests at the moment. Please wait a moment and try again.",'
        '"type":"rate_limit_reached_error"}}',
        {},
        ("moonshot", "rate_limit", None, None),
    ),
    (
        "kimi-balance",
        '{"error":{"type":"exceeded_current_quota_error","message":"Your account is suspended due to '
        'insufficient balance, please recharge your account"}}',
        {},
        ("moonshot", "balance", None, None),
    ),
    # --- MiniMax: MiniMax-M2.7#36, plans-and-prices.md 3.5 and several fixtures quoting the live body
    (
        "minimax-5h-token-plan",
        "HTTP 429: {'type': 'error'} " + '{"type":"error","error":{"type":"rate_limit_error",'
        '"message":"usage limit exceeded, 5-hour usage limit reached for Token Plan Starter (0/0 used), resets at '
        '2026-10-03T20:00:00Z (2056)"},"request_id":"065651beccc4579e5c7e66c939d1987e"}',
        {},
        ("minimax", "quota", "five_hour", "2026-10-03T20:00:00.000Z"),
    ),
    (
        "minimax-weekly-offset",
        '{"type":"error","error":{"type":"rate_limit_error","message":"usage limit exceeded, '
        'weekly usage limit reached for Token Plan Max (297510000/297510000 used), resets at 2026-10-05T00:00:00+08:00 (2056)"}}',
        {},
        ("minimax", "quota", "weekly", "2026-10-04T16:00:00.000Z"),
    ),
    (
        "minimax-old",
        'API Error: 429 {"type":"error","error":{"type":"rate_limit_error","message":"usage limit exceeded (2056)"}}',
        {},
        ("minimax", "quota", None, None),
    ),
    (
        "minimax-rpm",
        '{"base_resp":{"status_code":1002,"status_msg":"rate limit exceeded(RPM)"}}',
        {"vendor": "minimax"},
        ("minimax", "rate_limit", "minute", None),
    ),
    (
        "minimax-balance",
        '{"base_resp":{"status_code":1008,"status_msg":"insufficient balance"}}',
        {"vendor": "minimax"},
        ("minimax", "balance", None, None),
    ),
    # --- Bailian Coding Plan: help.aliyun.com/zh/model-studio/coding-plan-faq; oh-my-pi PR #8476
    ("bailian-5h", "429 hour allocated quota exceeded", {}, ("bailian", "quota", "five_hour", None)),
    (
        "bailian-week",
        "429 week allocated quota exceeded",
        {},  # Monday 2026-10-05 00:00 China time
        ("bailian", "quota", "weekly", "2026-10-04T16:00:00.000Z"),
    ),
    ("bailian-month", "429 month allocated quota exceeded", {}, ("bailian", "quota", "monthly", None)),
    (
        "bailian-tpm-throttle",
        '429 {"error":{"code":"Throttling.AllocationQuota","message":"You exceeded your current '
        'quota, please check your plan and billing details.","type":"insufficient_quota"}}',
        {},
        ("bailian", "rate_limit", None, None),
    ),
    ("qwen-oauth-free", "429 Free allocated quota exceeded.", {}, ("qwen-oauth", "quota", "daily", None)),
    (
        "qwen-token-plan-week",  # log-formats.md 5.6, Qwen Code api_error telemetry
        "429 Your token-plan 1-week quota has been exhausted. The quota will reset at 10-10 09:31:00 UTC.",
        {},
        (None, "quota", "weekly", "2026-10-10T09:31:00.000Z"),
    ),
    # --- Volcengine Ark: ark-429-autoban tests, a fail-closed run note (AccountQuotaExceeded, weekly)
    (
        "ark-monthly",
        '{"error":{"code":"AccountQuotaExceeded","message":"You have exceeded the monthly usage quota. '
        'It will reset at 2026-11-01 00:00:00 +0800 CST."}}',
        {},
        ("ark", "quota", "monthly", "2026-10-31T16:00:00.000Z"),
    ),
    (
        "ark-5h",
        '{"error":{"type":"TooManyRequests","message":"You have exceeded the 5-hour usage quota. It will reset '
        'at 2026-10-04 04:10:00 +0800 CST."}}',
        {},
        ("ark", "quota", "five_hour", "2026-10-03T20:10:00.000Z"),
    ),
    (
        "ark-rpm",
        '{"error":{"code":"RateLimitExceeded.EndpointRPMExceeded","message":"Your account has exceeded the '
        'RPM limit"}}',
        {},
        ("ark", "rate_limit", "minute", None),
    ),
    ("ark-overloaded", '{"error":{"code":"ServerOverloaded","message":"busy"}}', {}, ("ark", "overloaded", None, None)),
    # --- Anthropic: log-formats.md 1.6; claude-code issues #12308, #42801, #94390
    (
        "claude-epoch",
        "Claude AI usage limit reached|1791057600",
        {},
        ("anthropic", "quota", None, "2026-10-03T20:00:00.000Z"),
    ),
    (
        "claude-5h-zone",
        "5-hour limit reached · resets 2pm (Pacific/Auckland) · /upgrade to Max 20x or turn on /extra-usage",
        {},
        ("anthropic", "quota", "five_hour", "2026-10-04T01:00:00.000Z"),
    ),
    (
        "claude-weekly-zone",
        "You've hit your weekly limit · resets 5pm (America/Detroit)",
        {},
        ("anthropic", "quota", "weekly", "2026-10-03T21:00:00.000Z"),
    ),
    ("claude-limit-no-zone", "5-hour limit reached ∙ resets 2am", {}, ("anthropic", "quota", "five_hour", None)),
    (
        "claude-session",
        "You've hit your session limit · resets 9:50pm (Asia/Saigon)",
        {},
        ("anthropic", "quota", "five_hour", "2026-10-04T14:50:00.000Z"),
    ),
    ("claude-spend", "You've hit your monthly spend limit", {}, ("anthropic", "spend", None, None)),
    (
        "anthropic-rate-limit-error",  # a per-minute API rate limit: not a plan window
        'API Error: 429 {"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed your '
        "account's rate limit. Please try again later.\"}}",
        {},
        ("anthropic", "rate_limit", None, None),
    ),
    (
        "anthropic-overloaded",
        'API Error: 529 {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}',
        {},
        ("anthropic", "overloaded", None, None),
    ),
    # --- OpenAI / Codex: plans-and-prices.md 3.2, earendil-works/pi#4172, cpa-control-center#5, codex#3899
    (
        "codex-usage-limit-body",
        '{"error":{"type":"usage_limit_reached","message":"The usage limit has been reached",'
        '"plan_type":"plus","resets_at":1791059400,"resets_in_seconds":1800}}',
        {},
        ("openai", "quota", None, "2026-10-03T20:30:00.000Z"),
    ),
    (
        "codex-relative-only",
        '{"error":{"type":"usage_limit_reached","message":"The usage limit has been reached",'
        '"resets_in_seconds":3600}}',
        {},
        ("openai", "quota", None, "2026-10-03T18:40:00.000Z"),
    ),
    (
        "codex-tui",
        "You've hit your usage limit. Upgrade to Pro (https://openai.com/chatgpt/pricing) or try again in "
        "5 days 22 hours 11 minutes.",
        {},
        ("openai", "quota", None, "2026-10-09T15:51:00.000Z"),
    ),
    (
        "openai-tpm",
        "Rate limit reached for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, Used "
        "29000, Requested 2000. Please try again in 2.5s.",
        {},
        ("openai", "rate_limit", "minute", "2026-10-03T17:40:02.500Z"),
    ),
    (
        "openai-insufficient-quota",
        '429 {"error":{"message":"You exceeded your current quota, please check your plan and '
        'billing details.","type":"insufficient_quota","code":"insufficient_quota"}}',
        {},
        ("openai", "balance", None, None),
    ),
    # --- Google Gemini: log-formats.md 4.6, gemini-cli#8414, antigravity2api#44
    (
        "gemini-daily",
        "[API Error: You have exhausted your daily quota on this model. (Status: RESOURCE_EXHAUSTED)]",
        {},
        ("google", "quota", "daily", None),
    ),
    (
        "gemini-per-minute",
        "[API Error: Quota exceeded for quota metric 'Generate Content API requests per minute' and "
        "limit 'GenerateContent request limit per minute for a region'. Please retry in 44.5s (Status: RESOURCE_EXHAUSTED)]",
        {},
        ("google", "rate_limit", "minute", "2026-10-03T17:40:44.500Z"),
    ),
    (
        "gemini-reset-after",
        '{"error":{"code":429,"message":"You have exhausted your capacity on this model. Your quota '
        'will reset after 19h14m47s.","status":"RESOURCE_EXHAUSTED"}}',
        {},
        ("google", "quota", None, "2026-10-04T12:54:47.000Z"),
    ),
    (
        "gemini-high-demand",
        "[API Error: The model is overloaded due to high demand (Status: MODEL_CAPACITY_EXHAUSTED)]",
        {},
        ("google", "overloaded", None, None),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_real_texts(case):
    _, logged, extra, (vendor, kind, window, reset) = case
    found = read_refusal(logged, at=AT, **extra)
    assert found is not None
    assert (found.vendor, found.kind, found.window, found.reset_at) == (vendor, kind, window, reset)


def test_a_plain_429_is_a_rate_limit_not_a_plan_window():
    plain = read_refusal("429 Too Many Requests", at=AT)
    assert plain is not None and plain.kind == "rate_limit" and not plain.is_plan_window
    assert plain.window_minutes is None and plain.limit_type == "rate_limit"
    plan = read_refusal("429 Usage limit reached for 5 hour. Your limit will reset at 2026-10-04 03:00:00", at=AT)
    assert plan is not None and plan.is_plan_window and plan.window_minutes == 300 and plan.limit_type == "five_hour"


def test_other_errors_are_no_refusal():
    for text in (
        "API Error: 401 Invalid API key",
        "Connection error.",
        "400 invalid params, model not found",
        "",
        None,
        {"error": {"type": "invalid_request_error", "message": "prompt is too long"}},
    ):
        assert read_refusal(text, at=AT) is None, text


def test_opencode_api_error_object():
    """OpenCode keeps the SDK's APIError: the message, the status and the raw body apart."""
    error = {
        "name": "APIError",
        "data": {
            "message": "Usage limit reached for 5 hour. Your limit will reset at 2026-10-04 03:00:00",
            "statusCode": 429,
            "isRetryable": True,
            "responseBody": '{"error":{"code":"1308","message":"Usage limit reached for 5 hour. Your limit will reset at '
            '2026-10-04 03:00:00"}}',
        },
    }
    found = read_refusal(error, at=AT)
    assert found == Refusal(
        vendor="zai",
        kind="quota",
        window="five_hour",
        reset_at="2026-10-03T19:00:00.000Z",
        code="1308",
        status=429,
        message=found.message,
        assumed=("reset stamp without a zone read as Asia/Shanghai (zai's own zone)",),
    )


def test_zone_less_stamps_are_read_only_for_vendors_whose_zone_is_known():
    text = "429 quota exhausted. Your limit will reset at 2026-10-04 03:00:00"
    assert read_refusal(text, at=AT).reset_at is None
    hinted = read_refusal(text, at=AT, vendor="minimax")
    assert hinted.reset_at == "2026-10-03T19:00:00.000Z" and hinted.assumed


def test_codex_body_keeps_the_plan_type():
    found = read_refusal({"error": {"type": "usage_limit_reached", "plan_type": "pro", "resets_at": 1791059400}}, at=AT)
    assert (found.plan_type, found.code, found.reset_at) == ("pro", "usage_limit_reached", "2026-10-03T20:30:00.000Z")


def test_vendor_hint_names_an_anonymous_gateway_refusal():
    body = 'API Error: 429 {"type":"error","error":{"type":"rate_limit_error","message":"Too many requests"}}'
    assert read_refusal(body, at=AT).vendor == "anthropic"
    assert read_refusal(body, at=AT, vendor="ark").vendor == "ark"


def test_glm_1310_notes_the_window_it_assumed():
    found = read_refusal(
        '{"error":{"code":"1310","message":"Weekly/Monthly Limit Exhausted. Your limit will reset at '
        '2026-10-08 05:53:09"}}',
        at=AT,
    )
    assert any("weekly" in note for note in found.assumed)


def test_without_at_relative_resets_are_unknown_but_absolute_ones_stay():
    assert read_refusal("You've hit your usage limit. Try again in 2 hours.").reset_at is None
    assert (
        read_refusal(
            '{"error":{"code":"1308","message":"Usage limit reached for 5 hour. Your limit will reset at '
            '2026-10-04 03:00:00"}}'
        ).reset_at
        == "2026-10-03T19:00:00.000Z"
    )


def test_a_vendor_hint_does_not_turn_other_errors_into_refusals():
    for hint in ("zai", "moonshot", "minimax", "anthropic"):
        assert read_refusal("stream disconnected before completion", at=AT, vendor=hint) is None
        assert read_refusal("API Error: 401 invalid x-api-key", at=AT, vendor=hint) is None


def test_the_hint_names_the_site_of_a_two_site_vendor():
    text = '{"error":{"code":"1308","message":"Usage limit reached for 5 hour. Your limit will reset at 2026-10-04 03:00:00"}}'
    assert read_refusal(text, at=AT).vendor == "zai"
    assert read_refusal(text, at=AT, provider="open.bigmodel.cn").vendor == "zhipuai"
    assert read_refusal(text, at=AT, provider="open.bigmodel.cn").reset_at == "2026-10-03T19:00:00.000Z"
    assert (
        read_refusal("403 You've reached your weekly (7-day) usage limit.", model="kimi-for-coding").vendor
        == "moonshot"
    )
