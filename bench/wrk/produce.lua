-- wrk script for the produce benchmarks. It builds the request of one
-- scenario once, then sends it with a unique event id in every request.
-- nginx and event-issuer get byte-identical requests, so the client's cost
-- is the same for both.
--
-- Environment variables:
--
--   BENCH_MODE    binary (default), structured or batch.
--   BENCH_PATH    request path (default /bench/produce, batch /bench/produce/batch).
--   BENCH_KEY     API key for the Ocp-Apim-Subscription-Key header, if set.
--   BENCH_BATCH   events per batch request (default 100).
--   BENCH_CHECK   if set, keeps the first response that is not 2xx and prints it.
--
-- done() prints one line "BENCH_JSON {...}" with the totals and the latency
-- percentiles in microseconds, which bench/bench.py reads.

local mode = os.getenv("BENCH_MODE") or "binary"
local key = os.getenv("BENCH_KEY")
local batch_size = tonumber(os.getenv("BENCH_BATCH") or "100")
local checking = os.getenv("BENCH_CHECK") ~= nil

-- The event id is a 2-digit thread number and a 10-digit counter. The
-- placeholder has the same width, so Content-Length stays right.
local PLACEHOLDER = "~~~~~~~~~~~~"

-- 315 bytes of JSON: the data of the single and structured events.
local SMALL_DATA = '{"train":"R20","line":"Oslo S - Drammen - Kongsberg",' ..
    '"station":{"id":"oslo-s","name":"Oslo S","platform":4,"track":"4a"},' ..
    '"scheduled":"2024-05-01T08:15:00Z","actual":"2024-05-01T08:16:30Z",' ..
    '"delay_seconds":90,"cars":[{"number":1,"class":"standard"},' ..
    '{"number":2,"class":"comfort"}],"status":"arrived","remarks":"none"}'

-- Exactly 1024 bytes of JSON: the data of each batch event.
local function large_data()
    local head = '{"train":"R20","station":"oslo-s","payload":"'
    local tail = '"}'
    return head .. string.rep("x", 1024 - #head - #tail) .. tail
end

local function default_path()
    if mode == "batch" then return "/bench/produce/batch" end
    return "/bench/produce"
end

local function structured_event(type_name, id, data)
    return '{"specversion":"1.0","type":"' .. type_name .. '","source":"/bench/wrk",' ..
        '"id":"' .. id .. '","time":"2024-05-01T08:16:30Z",' ..
        '"datacontenttype":"application/json","data":' .. data .. '}'
end

-- Returns the request with PLACEHOLDER wherever the event id goes.
local function build_template()
    local path = os.getenv("BENCH_PATH") or default_path()
    local headers = {}
    local body

    if mode == "binary" then
        headers["ce-specversion"] = "1.0"
        headers["ce-type"] = "bench.single.v1"
        headers["ce-source"] = "/bench/wrk"
        headers["ce-id"] = PLACEHOLDER
        headers["ce-time"] = "2024-05-01T08:16:30Z"
        headers["Content-Type"] = "application/json; charset=utf-8"
        body = SMALL_DATA
    elseif mode == "structured" then
        headers["Content-Type"] = "application/cloudevents+json; charset=utf-8"
        body = structured_event("bench.structured.v1", PLACEHOLDER, SMALL_DATA)
    elseif mode == "batch" then
        headers["Content-Type"] = "application/cloudevents-batch+json"
        local data = large_data()
        local events = {}
        for i = 1, batch_size do
            events[i] = structured_event("bench.batch.v1", PLACEHOLDER .. string.format("-%03d", i),
                                         data)
        end
        body = "[" .. table.concat(events, ",") .. "]"
    else
        error("unknown BENCH_MODE " .. mode)
    end
    if key and key ~= "" then headers["Ocp-Apim-Subscription-Key"] = key end
    return wrk.format("POST", path, headers, body)
end

-- Splits text at every PLACEHOLDER, so table.concat(parts, id) rebuilds it
-- with id in each place.
local function split_template(text)
    local parts = {}
    local start = 1
    while true do
        local first, last = string.find(text, PLACEHOLDER, start, true)
        if not first then break end
        parts[#parts + 1] = string.sub(text, start, first - 1)
        start = last + 1
    end
    parts[#parts + 1] = string.sub(text, start)
    return parts
end

-- Setup phase (main environment): number the threads.
local threads = {}

function setup(thread)
    threads[#threads + 1] = thread
    thread:set("thread_number", #threads)
end

-- Running phase (one environment per thread).
local parts
local counter = 0

function init(args)
    parts = split_template(build_template())
end

function request()
    counter = counter + 1
    return table.concat(parts, string.format("%02d%010d", thread_number, counter))
end

if checking then
    function response(status, headers, body)
        if status >= 300 and not first_bad_response then
            first_bad_response = tostring(status) .. " " .. (body or "")
        end
    end
end

-- Done phase (main environment).
local function json_string(text)
    if text == nil then return "null" end
    local escaped = string.gsub(text, '[%c"\\]', function(c)
        return string.format("\\u%04x", string.byte(c))
    end)
    return '"' .. escaped .. '"'
end

function done(summary, latency, requests)
    local bad
    for _, thread in ipairs(threads) do
        bad = bad or thread:get("first_bad_response")
    end
    local errors = summary.errors
    io.write(string.format(
        'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
        '"errors_connect":%d,"errors_read":%d,"errors_write":%d,"errors_status":%d,' ..
        '"errors_timeout":%d,"latency_mean_us":%.1f,"latency_p50_us":%d,' ..
        '"latency_p90_us":%d,"latency_p99_us":%d,"latency_p999_us":%d,' ..
        '"latency_max_us":%d,"first_bad_response":%s}\n',
        summary.requests, summary.duration, summary.bytes,
        errors.connect, errors.read, errors.write, errors.status, errors.timeout,
        latency.mean, latency:percentile(50), latency:percentile(90),
        latency:percentile(99), latency:percentile(99.9), latency.max,
        json_string(bad)))
end
