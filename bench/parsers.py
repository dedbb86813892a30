"""Parser throughput per provider: stdout lines → `AgentEvent`s, against `json.loads` alone.

Every agent CLI's stdout goes through its adapter's stream parser, line by line, in the
session agent's event loop (activities/agent/runner.py); a slow parser caps events/s for every
turn on the host. This script feeds each provider's parser a realistic stream and times it.

The parsers are built as a turn builds them: through the adapter registry
(activities/agent/providers `ADAPTERS[name].parser()`), a fresh one per run. Codex's parser
reads the thread's rollout file after every line (its running usage, for budgets), so it is
built after `adapter.prepare()` in a temporary HOME holding a rollout for the thread, as in a
real run; a second Codex row is the parser alone (`CodexStreamParser()`, no rollout to read),
to show what reading the rollout costs. OpenCode and Kilo CLI share one parser class; each
gets its own CLI's line shapes. Polygent Code has no stream parser (its events come from the
in-process agent loop, not from stdout) and is only named in the output.

The stream of each provider: its start lines once (init), then one turn's body cycled until
`--lines` (50,000) lines, with message, tool and item ids made unique per cycle (parsers
dedupe usage and pair tool calls by id), then its final lines (the result). The line shapes are
the ones recorded in tests/unit/test_*_parser.py and ../shared/reference/providers.md: init,
thinking, text (Gemini: text deltas), tool calls and results (one a ~2 KB file read), todos,
usage (per message, per step or per run) and the result. Lines are built before timing.

Floor: `json.loads` of the same lines (a parser cannot do less). Per run each provider's
parser and floor are timed back to back (order flipped every run); figures are medians of
`--runs` (5).

    .venv/bin/python bench/parsers.py [--lines 50000] [--runs 5] [--providers claude-code,codex]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import header, load_average, table

N, FILE = "@N@", "@FILE@"  # the cycle's number (ids stay unique); the file text below
FILE_TEXT = "".join(
    f"def handler_{i}(request):\n    return respond(request, status={200 + i})\n\n"
    for i in range(30)
)  # a ~2 KB file, as a Read / cat / read_file result carries it
FILE_JSON = json.dumps(FILE_TEXT)[1:-1]  # as it appears inside a JSON string


@dataclass(frozen=True)
class Turn:
    """A CLI's turn: `head` once, `body` cycled (ids templated with `@N@`), `tail` once."""

    head: list[str]
    body: list[str]
    tail: list[str]

    def lines(self, n: int) -> list[str]:
        body = [line.replace(FILE, FILE_JSON) for line in self.body]
        fill = max(0, n - len(self.head) - len(self.tail))
        out: list[str] = []
        cycle = 0
        while len(out) < fill:
            out += [line.replace(N, str(cycle)) for line in body]
            cycle += 1
        return [*self.head, *out[:fill], *self.tail]


# -- Claude Code (stream-json --verbose; providers.md §1, test_claude_code_parser.py) ---------
# One content block per assistant line; the lines of one API response share message.id.

CLAUDE_INIT = '{"type":"system","subtype":"init","cwd":"/w","session_id":"3712212f-e25a-474c-b7a1-c4121410511a","tools":["Task","Bash","Read","Write","Edit","TodoWrite"],"mcp_servers":[{"name":"polygent","status":"connected"}],"model":"claude-opus-5-5","permissionMode":"acceptEdits","apiKeySource":"ANTHROPIC_API_KEY","claude_code_version":"2.1.330"}'  # noqa: E501
CLAUDE_BODY = [
    '{"type":"assistant","message":{"id":"msg_@N@a","type":"message","role":"assistant","model":"claude-opus-5-5","content":[{"type":"thinking","thinking":"I should read the handlers first.","signature":"ZmFrZXNpZw=="}],"stop_reason":null,"usage":{"input_tokens":100,"output_tokens":1,"cache_creation_input_tokens":20,"cache_read_input_tokens":30}},"parent_tool_use_id":null,"session_id":"3712212f"}',  # noqa: E501
    '{"type":"assistant","message":{"id":"msg_@N@a","type":"message","role":"assistant","model":"claude-opus-5-5","content":[{"type":"text","text":"I\'ll look at the handlers."}],"stop_reason":null,"usage":{"input_tokens":100,"output_tokens":1,"cache_creation_input_tokens":20,"cache_read_input_tokens":30}},"parent_tool_use_id":null,"session_id":"3712212f"}',  # noqa: E501
    '{"type":"assistant","message":{"id":"msg_@N@a","type":"message","role":"assistant","model":"claude-opus-5-5","content":[{"type":"tool_use","id":"toolu_@N@r","name":"Read","input":{"file_path":"/w/app/handlers.py"}}],"stop_reason":null,"usage":{"input_tokens":100,"output_tokens":1,"cache_creation_input_tokens":20,"cache_read_input_tokens":30}},"parent_tool_use_id":null,"session_id":"3712212f"}',
    '{"type":"user","message":{"role":"user","content":[{"tool_use_id":"toolu_@N@r","type":"tool_result","content":"@FILE@"}]},"parent_tool_use_id":null,"session_id":"3712212f"}',
    '{"type":"assistant","message":{"id":"msg_@N@b","type":"message","role":"assistant","model":"claude-opus-5-5","content":[{"type":"tool_use","id":"toolu_@N@w","name":"Write","input":{"file_path":"/w/hello.txt","content":"hello from the fake server\\n"}}],"stop_reason":null,"usage":{"input_tokens":100,"output_tokens":1,"cache_creation_input_tokens":20,"cache_read_input_tokens":30}},"parent_tool_use_id":null,"session_id":"3712212f"}',  # noqa: E501
    '{"type":"user","message":{"role":"user","content":[{"tool_use_id":"toolu_@N@w","type":"tool_result","content":"File created successfully at: /w/hello.txt"}]},"tool_use_result":{"type":"create","filePath":"/w/hello.txt","content":"hello\\n","structuredPatch":[],"originalFile":null}}',  # noqa: E501
    '{"type":"assistant","message":{"id":"msg_@N@b","type":"message","role":"assistant","model":"claude-opus-5-5","content":[{"type":"tool_use","id":"toolu_@N@t","name":"TodoWrite","input":{"todos":[{"content":"Write hello.txt","status":"completed","activeForm":"Writing"},{"content":"Run the tests","status":"in_progress","activeForm":"Running"}]}}],"stop_reason":null,"usage":{"input_tokens":100,"output_tokens":1,"cache_creation_input_tokens":20,"cache_read_input_tokens":30}},"parent_tool_use_id":null,"session_id":"3712212f"}',  # noqa: E501
    '{"type":"user","message":{"role":"user","content":[{"tool_use_id":"toolu_@N@t","type":"tool_result","content":"Todos have been modified successfully."}]},"parent_tool_use_id":null,"session_id":"3712212f"}',  # noqa: E501
    '{"type":"assistant","message":{"id":"msg_@N@c","type":"message","role":"assistant","model":"claude-opus-5-5","content":[{"type":"tool_use","id":"toolu_@N@b","name":"Bash","input":{"command":"pytest -q","description":"Run the tests"}}],"stop_reason":null,"usage":{"input_tokens":100,"output_tokens":1,"cache_creation_input_tokens":20,"cache_read_input_tokens":30}},"parent_tool_use_id":null,"session_id":"3712212f"}',  # noqa: E501
    '{"type":"user","message":{"role":"user","content":[{"tool_use_id":"toolu_@N@b","type":"tool_result","content":"....\\n4 passed in 0.12s","is_error":false}]},"parent_tool_use_id":null,"session_id":"3712212f"}',  # noqa: E501
    '{"type":"assistant","message":{"id":"msg_@N@c","type":"message","role":"assistant","model":"claude-opus-5-5","content":[{"type":"text","text":"The tests pass."}],"stop_reason":null,"usage":{"input_tokens":100,"output_tokens":1,"cache_creation_input_tokens":20,"cache_read_input_tokens":30}},"parent_tool_use_id":null,"session_id":"3712212f"}',  # noqa: E501
]
CLAUDE_RESULT = '{"duration_api_ms":109,"stop_reason":"end_turn","session_id":"3712212f","total_cost_usd":0.002692,"usage":{"input_tokens":200,"cache_creation_input_tokens":40,"cache_read_input_tokens":60,"output_tokens":84},"modelUsage":{},"permission_denials":[],"is_error":false,"num_turns":2,"subtype":"success","result":"Done: wrote hello.txt.","type":"result"}'  # noqa: E501

# -- Codex (exec --json; providers.md §2, test_codex_parser.py) -------------------------------

CODEX_THREAD = "01a20039-760a-7ae1-97bb-f896c3cbc942"
CODEX_HEAD = [
    f'{{"type":"thread.started","thread_id":"{CODEX_THREAD}"}}',
    '{"type":"turn.started"}',
]
CODEX_BODY = [
    '{"type":"item.completed","item":{"id":"item_@N@_0","type":"reasoning","text":"**Planning** Read the handlers first."}}',  # noqa: E501
    '{"type":"item.completed","item":{"id":"item_@N@_1","type":"agent_message","text":"I\'ll read the handlers."}}',  # noqa: E501
    '{"type":"item.started","item":{"id":"item_@N@_2","type":"command_execution","command":"/bin/bash -lc \'cat app/handlers.py\'","aggregated_output":"","exit_code":null,"status":"in_progress"}}',  # noqa: E501
    '{"type":"item.completed","item":{"id":"item_@N@_2","type":"command_execution","command":"/bin/bash -lc \'cat app/handlers.py\'","aggregated_output":"@FILE@","exit_code":0,"status":"completed"}}',  # noqa: E501
    '{"type":"item.started","item":{"id":"item_@N@_3","type":"file_change","changes":[{"path":"/w/hello.txt","kind":"add"}],"status":"in_progress"}}',
    '{"type":"item.completed","item":{"id":"item_@N@_3","type":"file_change","changes":[{"path":"/w/hello.txt","kind":"add"}],"status":"completed"}}',
    '{"type":"item.started","item":{"id":"item_@N@_4","type":"todo_list","items":[{"text":"a","completed":true},{"text":"b","completed":false}]}}',
    '{"type":"item.started","item":{"id":"item_@N@_5","type":"command_execution","command":"/bin/bash -lc \'pytest -q\'","aggregated_output":"","exit_code":null,"status":"in_progress"}}',  # noqa: E501
    '{"type":"item.completed","item":{"id":"item_@N@_5","type":"command_execution","command":"/bin/bash -lc \'pytest -q\'","aggregated_output":"....\\n4 passed in 0.12s\\n","exit_code":0,"status":"completed"}}',  # noqa: E501
    '{"type":"item.completed","item":{"id":"item_@N@_6","type":"mcp_tool_call","server":"polygent","tool":"polygent_ping","arguments":{"text":"hi"},"result":{"content":[{"type":"text","text":"pong: hi"}],"structured_content":{"result":"pong: hi"}},"error":null,"status":"completed"}}',  # noqa: E501
]
CODEX_TAIL = [
    '{"type":"item.completed","item":{"id":"item_final","type":"agent_message","text":"All done."}}',  # noqa: E501
    '{"type":"turn.completed","usage":{"input_tokens":400,"cached_input_tokens":120,"cache_write_input_tokens":0,"output_tokens":168,"reasoning_output_tokens":40}}',
]
CODEX_ROLLOUT = [  # the thread's rollout: token counts after each model request
    f'{{"timestamp":"2026-01-01T00:00:00.000Z","type":"session_meta","payload":{{"id":"{CODEX_THREAD}","cwd":"/w"}}}}',
    '{"timestamp":"2026-01-01T00:00:01.000Z","type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":400,"cached_input_tokens":120,"cache_write_input_tokens":0,"output_tokens":168,"reasoning_output_tokens":40}}}}',
]

# -- Gemini CLI (stream-json; providers.md §3, test_gemini_parser.py) -------------------------
# Assistant text arrives as deltas; the parser joins them into one text event.

GEMINI_HEAD = [
    '{"type":"init","timestamp":"2026-11-21T22:46:52.201Z","session_id":"b2664b2c-d588-43db-a062-73102ebecb51","model":"gemini-2.5-flash"}',
    '{"type":"message","timestamp":"2026-11-21T22:46:52.202Z","role":"user","content":"go"}',
]
GEMINI_BODY = [
    '{"type":"message","timestamp":"2026-11-21T22:46:52.238Z","role":"assistant","content":"I\'ll read ","delta":true}',  # noqa: E501
    '{"type":"message","timestamp":"2026-11-21T22:46:52.239Z","role":"assistant","content":"the handlers ","delta":true}',  # noqa: E501
    '{"type":"message","timestamp":"2026-11-21T22:46:52.240Z","role":"assistant","content":"first.","delta":true}',
    '{"type":"tool_use","timestamp":"2026-11-21T22:46:52.269Z","tool_name":"read_file","tool_id":"read_file__call_@N@r","parameters":{"file_path":"/w/app/handlers.py"}}',
    '{"type":"tool_result","timestamp":"2026-11-21T22:46:52.307Z","tool_id":"read_file__call_@N@r","status":"success","output":"@FILE@"}',
    '{"type":"message","timestamp":"2026-11-21T22:46:52.318Z","role":"assistant","content":"Now I\'ll write ","delta":true}',  # noqa: E501
    '{"type":"message","timestamp":"2026-11-21T22:46:52.319Z","role":"assistant","content":"the file.","delta":true}',  # noqa: E501
    '{"type":"tool_use","timestamp":"2026-11-21T22:46:52.320Z","tool_name":"write_file","tool_id":"write_file__call_@N@w","parameters":{"file_path":"/w/hello.txt","content":"x\\n"}}',
    '{"type":"tool_result","timestamp":"2026-11-21T22:46:52.330Z","tool_id":"write_file__call_@N@w","status":"success","output":"Successfully created and wrote to new file: /w/hello.txt."}',  # noqa: E501
    '{"type":"tool_use","timestamp":"2026-11-21T22:47:03.829Z","tool_name":"write_todos","tool_id":"write_todos__call_@N@t","parameters":{"todos":[{"description":"a","status":"pending"},{"description":"b","status":"in_progress"}]}}',
    '{"type":"tool_result","timestamp":"2026-11-21T22:47:03.836Z","tool_id":"write_todos__call_@N@t","status":"success"}',
    '{"type":"tool_use","timestamp":"2026-11-21T22:46:52.331Z","tool_name":"run_shell_command","tool_id":"run_shell_command__call_@N@s","parameters":{"command":"pytest -q","description":"Run it","is_background":false}}',  # noqa: E501
    '{"type":"tool_result","timestamp":"2026-11-21T22:46:52.381Z","tool_id":"run_shell_command__call_@N@s","status":"success","output":"....\\n4 passed in 0.12s"}',  # noqa: E501
]
GEMINI_TAIL = [
    '{"type":"message","timestamp":"2026-11-21T22:46:52.394Z","role":"assistant","content":"Done.","delta":true}',
    '{"type":"result","timestamp":"2026-11-21T22:46:52.400Z","status":"success","stats":{"total_tokens":568,"input_tokens":400,"output_tokens":168,"cached":120,"input":280,"duration_ms":200,"tool_calls":3,"models":{"gemini-2.5-flash":{"total_tokens":568,"input_tokens":400,"output_tokens":168,"cached":120,"input":280}}}}',
]

# -- Qwen Code (stream-json, Claude-shaped; providers.md §6, test_qwen_parser.py) -------------
# Every block is its own line with its own uuid; only a response's last block carries usage.

QWEN_HEAD = [
    '{"type":"system","subtype":"init","uuid":"a495486b-b16b-4c4a-91a0-d3e1780838e6","session_id":"a495486b-b16b-4c4a-91a0-d3e1780838e6","cwd":"/w","tools":["web_fetch","read_file","grep_search","glob","edit","write_file","run_shell_command","todo_write"],"mcp_servers":[{"name":"polygent","status":"connected"}],"model":"fake-qwen","permission_mode":"yolo","slash_commands":["auth","bug"],"qwen_code_version":"0.24.4","agents":["general-purpose","Explore"]}',
    '{"type":"stream_event","uuid":"d4278edb-98a8-4fe1-a194-851dea40f94b","session_id":"a495486b-b16b-4c4a-91a0-d3e1780838e6","parent_tool_use_id":null,"event":{"type":"goal_state","goal_state":{"v":2,"goal":null,"activity":"idle"}}}',
]
QWEN_BODY = [
    '{"type":"assistant","uuid":"7326f6f1-@N@-0","session_id":"a495486b-b16b-4c4a-91a0-d3e1780838e6","parent_tool_use_id":null,"message":{"id":"7326f6f1-@N@-0","type":"message","role":"assistant","model":"fake-qwen","content":[{"type":"thinking","thinking":"think first","signature":""}],"stop_reason":null,"usage":{"input_tokens":0,"output_tokens":0}}}',  # noqa: E501
    '{"type":"assistant","uuid":"50c84a6d-@N@-1","session_id":"a495486b-b16b-4c4a-91a0-d3e1780838e6","parent_tool_use_id":null,"message":{"id":"50c84a6d-@N@-1","type":"message","role":"assistant","model":"fake-qwen","content":[{"type":"text","text":"I\'ll read the handlers."}],"stop_reason":null,"usage":{"input_tokens":0,"output_tokens":0}}}',  # noqa: E501
    '{"type":"assistant","uuid":"75975ba1-@N@-2","session_id":"a495486b-b16b-4c4a-91a0-d3e1780838e6","parent_tool_use_id":null,"message":{"id":"75975ba1-@N@-2","type":"message","role":"assistant","model":"fake-qwen","content":[{"type":"tool_use","id":"call_@N@r","name":"read_file","input":{"file_path":"/w/app/handlers.py"}}],"stop_reason":"tool_use","usage":{"input_tokens":100,"output_tokens":42,"cache_read_input_tokens":30,"total_tokens":142}}}',
    '{"type":"user","uuid":"79b6867c-@N@-3","session_id":"a495486b-b16b-4c4a-91a0-d3e1780838e6","parent_tool_use_id":null,"message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"call_@N@r","is_error":false,"content":"@FILE@"}]}}',
    '{"type":"assistant","uuid":"75975ba1-@N@-4","session_id":"a495486b-b16b-4c4a-91a0-d3e1780838e6","parent_tool_use_id":null,"message":{"id":"75975ba1-@N@-4","type":"message","role":"assistant","model":"fake-qwen","content":[{"type":"tool_use","id":"call_@N@w","name":"write_file","input":{"file_path":"/w/hello.txt","content":"hi\\n"}}],"stop_reason":"tool_use","usage":{"input_tokens":100,"output_tokens":42,"cache_read_input_tokens":30,"total_tokens":142}}}',
    '{"type":"user","uuid":"79b6867c-@N@-5","session_id":"a495486b-b16b-4c4a-91a0-d3e1780838e6","parent_tool_use_id":null,"message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"call_@N@w","is_error":false,"content":"Successfully created and wrote to new file: /w/hello.txt."}]}}',  # noqa: E501
    '{"type":"assistant","uuid":"a491871d-@N@-6","session_id":"a495486b-b16b-4c4a-91a0-d3e1780838e6","parent_tool_use_id":null,"message":{"id":"a491871d-@N@-6","type":"message","role":"assistant","model":"fake-qwen","content":[{"type":"tool_use","id":"call_@N@t","name":"todo_write","input":{"todos":[{"id":"1","content":"a","status":"pending"},{"id":"2","content":"b","status":"in_progress"}]}}],"stop_reason":"tool_use","usage":{"input_tokens":100,"output_tokens":42,"cache_read_input_tokens":30,"total_tokens":142}}}',
    '{"type":"user","uuid":"1a7000ae-@N@-7","session_id":"a495486b-b16b-4c4a-91a0-d3e1780838e6","parent_tool_use_id":null,"message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"call_@N@t","is_error":false,"content":"Todos have been modified successfully."}]}}',  # noqa: E501
    '{"type":"assistant","uuid":"59256c31-@N@-8","session_id":"a495486b-b16b-4c4a-91a0-d3e1780838e6","parent_tool_use_id":null,"message":{"id":"59256c31-@N@-8","type":"message","role":"assistant","model":"fake-qwen","content":[{"type":"text","text":"Written."}],"stop_reason":null,"usage":{"input_tokens":100,"output_tokens":42,"cache_read_input_tokens":30,"total_tokens":142}}}',
]
QWEN_RESULT = '{"type":"result","subtype":"success","uuid":"494343b9-862f-462b-987b-7a6ac3874ddb","session_id":"a495486b-b16b-4c4a-91a0-d3e1780838e6","is_error":false,"duration_ms":1749,"duration_api_ms":837,"num_turns":3,"result":"All done.","usage":{"input_tokens":300,"output_tokens":126,"cache_read_input_tokens":90,"total_tokens":426},"permission_denials":[]}'  # noqa: E501

# -- OpenCode and Kilo CLI (run --format json; providers.md §4-5, test_opencode_parser.py) ---
# No deltas, no final summary: each model step is step_start … step_finish (tokens, USD).

OPENCODE_BODY = [
    '{"type":"step_start","timestamp":1795300178738,"sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","part":{"id":"prt_@N@s","messageID":"msg_@N@a","sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","snapshot":"4b825dc642cb6eb9a060e54bf8d69288fbee4904","type":"step-start"}}',
    '{"type":"reasoning","timestamp":1795300178738,"sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","part":{"id":"prt_@N@r","messageID":"msg_@N@a","sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","type":"reasoning","text":"think first","time":{"start":1795300178277,"end":1795300178301},"metadata":{"anthropic":{"signature":"ZmFrZXNpZw=="}}}}',  # noqa: E501
    '{"type":"text","timestamp":1795300178738,"sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","part":{"id":"prt_@N@t","messageID":"msg_@N@a","sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","type":"text","text":"Reading, then writing.","time":{"start":1795300178318,"end":1795300178411}}}',  # noqa: E501
    '{"type":"tool_use","timestamp":1795300178738,"sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","part":{"type":"tool","tool":"read","callID":"toolu_@N@r","state":{"status":"completed","input":{"filePath":"/w/app/handlers.py"},"output":"@FILE@","metadata":{"truncated":false},"title":"app/handlers.py","time":{"start":1795300178632,"end":1795300178702}},"id":"prt_@N@x","sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","messageID":"msg_@N@a"}}',
    "@WRITE@",
    "@STEP@",
    '{"type":"step_start","timestamp":1795300178738,"sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","part":{"id":"prt_@N@u","messageID":"msg_@N@b","sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","snapshot":"4b825dc642cb6eb9a060e54bf8d69288fbee4904","type":"step-start"}}',
    '{"type":"tool_use","timestamp":1795300136376,"sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","part":{"type":"tool","tool":"polygent_polygent_ping","callID":"toolu_@N@p","state":{"status":"completed","input":{"text":"hello mcp"},"output":"pong: hello mcp","metadata":{"truncated":false},"title":"","time":{"start":1795300136272,"end":1795300136370}},"id":"prt_@N@p","sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","messageID":"msg_@N@b"}}',  # noqa: E501
    '{"type":"tool_use","timestamp":1795300137319,"sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","part":{"type":"tool","tool":"todowrite","callID":"toolu_@N@d","state":{"status":"completed","input":{"todos":[{"id":"1","content":"A","status":"completed","priority":"high"}]},"output":"[]","metadata":{"todos":[{"content":"A","status":"completed","priority":"high"}],"truncated":false},"title":"0 todos","time":{"start":1795300137164,"end":1795300137294}},"id":"prt_@N@d","sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","messageID":"msg_@N@b"}}',  # noqa: E501
    "@STEP2@",
]
OPENCODE_WRITE = '{"type":"tool_use","timestamp":1795300178738,"sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","part":{"type":"tool","tool":"write","callID":"toolu_@N@w","state":{"status":"completed","input":{"filePath":"/w/hello.txt","content":"hi\\n"},"output":"Wrote file successfully.","metadata":{"diagnostics":{},"filepath":"/w/hello.txt","exists":false,"truncated":false},"title":"hello.txt","time":{"start":1795300178632,"end":1795300178702}},"id":"prt_@N@w","sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","messageID":"msg_@N@a"}}'  # noqa: E501
OPENCODE_STEP = '{"type":"step_finish","timestamp":1795300179488,"sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","part":{"id":"prt_@N@f","reason":"tool-calls","snapshot":"7a2871192d49caaff5451df37b27afc373d8298b","messageID":"msg_@N@a","sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","type":"step-finish","tokens":{"total":192,"input":100,"output":42,"reasoning":0,"cache":{"write":20,"read":30}},"cost":0.001014}}'  # noqa: E501
KILO_WRITE = '{"type":"tool_use","timestamp":1795302273703,"sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","part":{"id":"prt_@N@w","sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","messageID":"msg_@N@a","type":"tool","callID":"toolu_@N@w","tool":"write","state":{"status":"completed","input":{"filePath":"/w/hello.txt","content":"hi\\n"},"output":"Wrote file successfully.","title":"hello.txt","metadata":{"diagnostics":{},"filepath":"/w/hello.txt","exists":false,"diff":"@@ -0,0 +1,1 @@\\n+hi\\n","filediff":{"file":"/w/hello.txt","patch":"+hi\\n","additions":1,"deletions":0},"truncated":false,"approval":{"source":"global","rule":{"permission":"edit","pattern":"*","action":"allow"}}},"time":{"start":1795302273618,"end":1795302273692}}}}'  # noqa: E501
KILO_STEP = '{"type":"step_finish","timestamp":1795302276029,"sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","part":{"id":"prt_@N@f","sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","messageID":"msg_@N@a","type":"step-finish","reason":"tool-calls","snapshot":"7a2871192d49caaff5451df37b27afc373d8298b","metrics":{"generation":352.94,"source":"computed"},"time":{"start":1795302275901,"end":1795302276020,"elapsed":119},"cost":0.001014,"tokens":{"total":192,"input":100,"output":42,"reasoning":0,"cache":{"read":30,"write":20}}}}'  # noqa: E501
OPENCODE_TAIL = [
    '{"type":"step_start","timestamp":1795300138000,"sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","part":{"id":"prt_final_s","messageID":"msg_final","sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","snapshot":"4b825dc642cb6eb9a060e54bf8d69288fbee4904","type":"step-start"}}',
    '{"type":"text","timestamp":1795300138127,"sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","part":{"id":"prt_final_t","messageID":"msg_final","sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","type":"text","text":"All done.","time":{"start":1795300138098,"end":1795300138103}}}',  # noqa: E501
    '{"type":"step_finish","timestamp":1795300138273,"sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","part":{"id":"prt_final_f","reason":"stop","snapshot":"7a2871192d49caaff5451df37b27afc373d8298b","messageID":"msg_final","sessionID":"ses_dffc56da5ffeT1jykwImbyXgZ0","type":"step-finish","tokens":{"total":192,"input":100,"output":42,"reasoning":0,"cache":{"write":20,"read":30}},"cost":0.001014}}',
]


def opencode_body(write: str, step: str) -> list[str]:
    """OpenCode's body with the write and step_finish lines of OpenCode or of Kilo CLI (which
    adds diffs and approvals to tool metadata, metrics and times to steps)."""
    second = step.replace("msg_@N@a", "msg_@N@b").replace("prt_@N@f", "prt_@N@g")
    swap = {"@WRITE@": write, "@STEP@": step, "@STEP2@": second}
    return [swap.get(line, line) for line in OPENCODE_BODY]


TURNS: dict[str, Callable[[], Turn]] = {
    "claude-code": lambda: Turn([CLAUDE_INIT], CLAUDE_BODY, [CLAUDE_RESULT]),
    "codex": lambda: Turn(CODEX_HEAD, CODEX_BODY, CODEX_TAIL),
    "gemini-cli": lambda: Turn(GEMINI_HEAD, GEMINI_BODY, GEMINI_TAIL),
    "qwen-code": lambda: Turn(QWEN_HEAD, QWEN_BODY, [QWEN_RESULT]),
    "opencode": lambda: Turn([], opencode_body(OPENCODE_WRITE, OPENCODE_STEP), OPENCODE_TAIL),
    "kilo-cli": lambda: Turn([], opencode_body(KILO_WRITE, KILO_STEP), OPENCODE_TAIL),
}


def codex_rollout(codex_home: Path) -> None:
    """The thread's rollout where Codex writes it: $CODEX_HOME/sessions/Y/M/D/rollout-…"""
    day = codex_home / "sessions" / "2026" / "01" / "01"
    day.mkdir(parents=True, exist_ok=True)
    path = day / f"rollout-2026-01-01T00-00-00-{CODEX_THREAD}.jsonl"
    path.write_text("\n".join(CODEX_ROLLOUT) + "\n")


# -- the runs ---------------------------------------------------------------------------------

Parse = Callable[[str], list[Any]]


@dataclass(frozen=True)
class Case:
    """One row: a provider's stream and how to build a fresh parser for one run."""

    label: str
    turn: Turn
    fresh: Callable[[], Parse]


def registry_parser(name: str) -> Callable[[], Parse]:
    from activities.agent.providers import ADAPTERS

    return lambda: ADAPTERS[name].parser().parse


@contextlib.contextmanager
def codex_home() -> Iterator[Callable[[], Parse]]:
    """Codex's parser as a run builds it: `prepare()` in a temp HOME, then `parser()`."""
    from activities.agent.providers import ADAPTERS
    from orchestrator.contracts.agent import TurnRequest

    with tempfile.TemporaryDirectory(prefix="polygent-bench-codex-") as tmp:
        home = Path(tmp) / "home"
        request = TurnRequest(provider="codex", prompt="bench", worktree=tmp, home=str(home))
        env = {"PATH": "/usr/bin:/bin", "OPENAI_API_KEY": "sk-bench-not-a-key"}
        adapter = ADAPTERS["codex"]

        def fresh() -> Parse:
            adapter.prepare(request, home, env)
            codex_rollout(home / ".codex")
            return adapter.parser().parse

        yield fresh


def time_parser(fresh: Callable[[], Parse], lines: list[str]) -> tuple[float, int]:
    """(seconds, events) of one fresh parser over the stream."""
    parse = fresh()
    gc.collect()
    events = 0
    t0 = time.perf_counter()
    for line in lines:
        events += len(parse(line))
    return time.perf_counter() - t0, events


def time_floor(lines: list[str]) -> float:
    loads = json.loads
    gc.collect()
    t0 = time.perf_counter()
    for line in lines:
        loads(line)
    return time.perf_counter() - t0


@dataclass
class Result:
    label: str
    lines: int
    events: int
    parser: list[float]
    floor: list[float]

    def row(self) -> list[str]:
        p, f = statistics.median(self.parser), statistics.median(self.floor)
        return [
            self.label,
            f"{self.lines / p:,.0f}",
            f"{self.events / p:,.0f}",
            f"{p / self.lines * 1e6:.2f}",
            f"{self.events / self.lines:.2f}",
            f"{self.lines / f:,.0f}",
            f"{p / f:.1f}x",
        ]


def run_case(case: Case, n: int, runs: int) -> Result:
    lines = case.turn.lines(n)
    result = Result(case.label, len(lines), 0, [], [])
    time_parser(case.fresh, lines[: min(len(lines), 2000)])  # warm-up (imports, caches)
    for i in range(runs):
        order = ("parser", "floor") if i % 2 == 0 else ("floor", "parser")
        for side in order:
            if side == "parser":
                seconds, events = time_parser(case.fresh, lines)
                result.parser.append(seconds)
                result.events = events
            else:
                result.floor.append(time_floor(lines))
        print(
            f"  run {i + 1} {case.label:>24}: parser {result.parser[-1]:.3f} s "
            f"({result.events} events), json.loads {result.floor[-1]:.3f} s",
            flush=True,
        )
    return result


def main() -> int:
    from activities.agent.providers import ADAPTERS

    parser = argparse.ArgumentParser(
        description="Stream parser throughput per provider (lines/s, events/s) on a realistic "
        "turn, built through the adapter registry, against json.loads of the same lines."
    )
    parser.add_argument("--lines", type=int, default=50000, help="lines per stream (50000)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per provider (5)")
    parser.add_argument(
        "--providers", default="", help="comma-separated adapter names (default: all)"
    )
    args = parser.parse_args()
    if args.lines < 100 or args.runs < 1:
        parser.error("--lines must be >= 100 and --runs >= 1")
    wanted = [p for p in args.providers.split(",") if p] or list(ADAPTERS)
    unknown = [p for p in wanted if p not in ADAPTERS]
    if unknown:
        parser.error(f"unknown provider(s) {unknown}; known: {', '.join(ADAPTERS)}")

    header(
        "bench/parsers.py: stream parser throughput per provider",
        [
            "each provider's parser (built through ADAPTERS[name].parser(), fresh per run) fed a",
            f"{args.lines:,}-line stream: init, one turn's body cycled (ids unique per cycle), "
            "result;",
            f"floor: json.loads of the same lines. Median of {args.runs} runs.",
        ],
    )
    results: list[Result] = []
    notes: list[str] = []
    with contextlib.ExitStack() as stack:
        for name in wanted:
            if name == "polygent-code":
                notes.append(
                    "polygent-code: no stream parser (the built-in agent runs in the session "
                    "agent's process and hands over AgentEvents directly; nothing to parse)"
                )
                continue
            if name not in TURNS:
                notes.append(f"{name}: no sample turn in this script yet (add one to TURNS)")
                continue
            turn = TURNS[name]()
            if name == "codex":
                cases = [
                    Case("codex", turn, stack.enter_context(codex_home())),
                    Case("codex (parser alone)", turn, registry_parser(name)),
                ]
            else:
                cases = [Case(name, turn, registry_parser(name))]
            for case in cases:
                results.append(run_case(case, args.lines, args.runs))

    print()
    print(f"summary ({args.lines:,} lines per stream, median of {args.runs} runs)")
    cols = ["lines/s", "events/s", "µs/line", "events/line", "floor lines/s", "parser/floor"]
    print(table(["provider", *cols], [r.row() for r in results]))
    print("  parser/floor: the parser's time per line over json.loads' (both on the same lines)")
    print(
        "  codex: built after prepare(), it reads the thread's rollout file after every line (the "
        "run's usage so far);\n  '(parser alone)': adapter.parser() without prepare(), no "
        "rollout to read"
    )
    for note in notes:
        print(f"  {note}")
    print(f"load average at end: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
