"""Stack-trace parsing: real Python tracebacks from real programs, fixed Java/Node/Go/.NET samples."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from crashlens_core.signals.stacks import extract_stacks, is_in_app, parse_stack


def run_py(tmp_path: Path, source: str, name: str = "prog.py", env_path: Path | None = None) -> str:
    """Run a small program for real and return what it printed on stderr (its traceback)."""
    prog = tmp_path / name
    prog.write_text(textwrap.dedent(source))
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(env_path or tmp_path), "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run([sys.executable, str(prog)], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode != 0, proc.stdout
    return proc.stderr


def test_python_traceback_from_a_real_program(tmp_path):
    err = run_py(tmp_path, """
        import json

        def load(text):
            return json.loads(text)

        def handler(order_id):
            return load("{bad json for " + order_id)

        handler("o-1736")
    """)
    st = parse_stack(err)
    assert st.language == "python" and st.exception == "json.decoder.JSONDecodeError"
    assert st.message.startswith("Expecting property name")
    # innermost first: the json library frames, then ours, outermost last
    assert [f.function for f in st.frames if f.in_app] == ["load", "handler", "<module>"]
    assert st.frames[0].module.startswith("json") and not st.frames[0].in_app
    load = next(f for f in st.frames if f.function == "load")
    assert load.file == str(tmp_path / "prog.py") and load.line == 5 and load.source == "return json.loads(text)"


def test_python_chained_exceptions_become_causes(tmp_path):
    err = run_py(tmp_path, """
        class Repo:
            def get(self, key):
                try:
                    return {"a": 1}[key]
                except KeyError as exc:
                    raise LookupError(f"no row {key!r}") from exc

        def view():
            try:
                Repo().get("zz")
            except LookupError:
                raise RuntimeError("view failed")

        view()
    """)
    st = parse_stack(err)
    assert [s.exception for s in st.chain()] == ["RuntimeError", "LookupError", "KeyError"]
    assert st.message == "view failed" and st.cause.message == "no row 'zz'"
    assert st.root_cause().frames[0].function == "get" and st.root_cause().frames[0].line == 5
    assert st.frames[0].function == "view"


def test_python_recursion_and_library_frames_from_site_packages(tmp_path):
    site = tmp_path / "venv" / "lib" / "python3.11" / "site-packages" / "fancylib"
    site.mkdir(parents=True)
    (site / "__init__.py").write_text("def call(fn, n):\n    return fn(n)\n")
    err = run_py(tmp_path, """
        import fancylib

        def down(n):
            if n == 0:
                raise ZeroDivisionError("bottom")
            return fancylib.call(down, n - 1)

        down(30)
    """, env_path=site.parent)
    st = parse_stack(err)
    lib = [f for f in st.frames if f.module == "fancylib"]
    assert lib and not any(f.in_app for f in lib)
    assert st.frames[0].function == "down" and st.frames[0].in_app
    # Python elides repeats ("[Previous line repeated N more times]") without breaking the parse
    assert st.exception == "ZeroDivisionError" and st.frames[-1].function == "<module>"


def test_python_syntax_error_in_an_imported_module(tmp_path):
    (tmp_path / "broken.py").write_text("def f(:\n    pass\n")
    err = run_py(tmp_path, "import broken\n")
    st = parse_stack(err)
    assert st.exception == "SyntaxError"
    assert st.frames[0].file.endswith("broken.py") and st.frames[0].function is None and st.frames[0].line == 1


def test_traces_inside_log_lines_are_found_and_the_rest_ignored(tmp_path):
    err = run_py(tmp_path, "def f():\n    raise ValueError('boom 42')\nf()\n")
    text = "2024-05-14 10:00:00 ERROR request failed\n" + err + "2024-05-14 10:00:01 INFO next request\n" + JAVA
    found = extract_stacks(text)
    assert [s.language for s in found] == ["python", "java"]
    assert found[0].message == "boom 42"  # the following log line is not part of the message
    assert found[1].exception == "java.lang.IllegalStateException"


def test_plain_messages_have_no_stack():
    for text in ("connection reset by peer", "failed at step 3\nretrying at 10:00", "", None,
                 "summary:\n  at least 3 nodes down\n  at most 5 up", "goroutines: 12\nall fine"):
        assert extract_stacks(text) == []


JAVA = """2024-05-14 10:00:01 ERROR [http-nio-8080-exec-3] c.e.OrderController - request failed
java.lang.IllegalStateException: Order 12345 could not be saved
\tat com.example.shop.OrderService.save(OrderService.java:88)
\tat com.example.shop.OrderController.lambda$post$0(OrderController.kt:41)
\tat java.base/java.util.Optional.map(Optional.java:260)
\tat app//com.example.shop.OrderController.post(OrderController.java:40)
\tat jdk.internal.reflect.GeneratedMethodAccessor57.invoke(Unknown Source)
\tat java.base/java.lang.reflect.Method.invoke(Method.java:568)
\tat org.springframework.web.method.support.InvocableHandlerMethod.doInvoke(InvocableHandlerMethod.java:205) ~[spring-web-6.1.jar:6.1]
\tat java.base/java.lang.Thread.run(Thread.java:833)
Caused by: org.postgresql.util.PSQLException: ERROR: duplicate key value violates unique constraint "orders_pkey"
  Detail: Key (id)=(12345) already exists.
\tat org.postgresql.core.v3.QueryExecutorImpl.receiveErrorResponse(QueryExecutorImpl.java:2675)
\tat com.example.shop.OrderRepository.insert(OrderRepository.java:31)
\tat com.example.shop.OrderService.save(OrderService.java:85)
\t... 6 more
\tSuppressed: java.io.IOException: close failed
\t\tat com.example.shop.Db.close(Db.java:12)
\t\t... 7 more
2024-05-14 10:00:02 INFO next line"""


def test_java_caused_by_more_and_suppressed():
    st = parse_stack(JAVA)
    assert st.language == "java" and st.message == "Order 12345 could not be saved"
    top = st.frames[0]
    assert (top.module, top.class_, top.function, top.file, top.line, top.in_app) == \
        ("com.example.shop", "OrderService", "save", "OrderService.java", 88, True)
    assert st.frames[3].module == "com.example.shop" and st.frames[3].function == "post"  # "app//" loader prefix
    assert st.frames[4].file is None and not st.frames[4].in_app  # Unknown Source, JDK
    assert not st.frames[6].in_app  # spring, with its jar suffix
    cause = st.cause
    assert cause.exception == "org.postgresql.util.PSQLException" and "already exists" in cause.message
    # "... 6 more" = the enclosing trace's last 6 frames; the Suppressed block is skipped
    assert len(cause.frames) == 3 + 6 and cause.frames[3:] == st.frames[-6:]
    assert "close" not in [f.function for f in cause.frames]
    assert cause.cause is None


def test_java_exception_in_thread_and_in_app_overrides():
    text = ('Exception in thread "main" java.lang.NullPointerException\n'
            "\tat org.acme.lib.Util.trim(Util.java:7)\n\tat com.shop.Main.main(Main.java:3)\n")
    st = parse_stack(text)
    assert st.exception == "java.lang.NullPointerException" and st.message == ""
    assert [f.in_app for f in st.frames] == [True, True]
    st = parse_stack(text, in_app_exclude=["org.acme.lib."])
    assert [f.in_app for f in st.frames] == [False, True]
    st = parse_stack("x\njava.lang.Error: e\n\tat java.util.List.get(List.java:1)", in_app_include=["java.util."])
    assert st.frames[0].in_app


NODE = """Unhandled rejection in request GET /cart
TypeError: Cannot read properties of undefined (reading 'price')
    at lineTotal (/srv/app/src/cart/total.js:14:22)
    at Array.map (<anonymous>)
    at CartService.total (/srv/app/src/cart/service.js:40:31)
    at async Promise.all (index 0)
    at async handler (file:///srv/app/src/routes/cart.mjs:22:5)
    at Layer.handle [as handle_request] (/srv/app/node_modules/express/lib/router/layer.js:95:5)
    at /srv/app/src/server.js:8:3
    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)
    at new Cart (/srv/app/src/cart/model.ts:3:9)
    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1495:16) {
  errno: -111,
  code: 'ECONNREFUSED'
}"""


def test_node_frames():
    st = parse_stack(NODE)
    assert st.language == "javascript" and st.exception == "TypeError" and "reading 'price'" in st.message
    fr = st.frames
    assert (fr[0].function, fr[0].file, fr[0].line, fr[0].column, fr[0].in_app) == ("lineTotal", "/srv/app/src/cart/total.js", 14, 22, True)
    assert (fr[1].class_, fr[1].function, fr[1].in_app) == ("Array", "map", False)
    assert (fr[2].class_, fr[2].function) == ("CartService", "total")
    assert fr[4].function == "handler" and fr[4].file == "/srv/app/src/routes/cart.mjs"
    assert fr[5].function == "handle" and not fr[5].in_app  # node_modules
    assert fr[6].function is None and fr[6].file == "/srv/app/src/server.js" and fr[6].in_app
    assert not fr[7].in_app  # node:internal
    assert fr[8].function == "Cart" and fr[8].in_app
    assert (fr[9].function, fr[9].line, fr[9].in_app) == ("afterConnect", 1495, False) and len(fr) == 10


GO = """2024/05/14 10:00:00 starting
panic: runtime error: invalid memory address or nil pointer dereference
[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x6b3c2e]

goroutine 42 [running]:
github.com/acme/shop/internal/cart.(*Service).Total(0x0, {0xc0001a2000, 0x3, 0x4})
\t/build/shop/internal/cart/service.go:57 +0x2e
github.com/acme/shop/internal/api.handleCart.func1({0x7f1e40, 0xc0000b4000}, 0xc0000c6100)
\t/build/shop/internal/api/cart.go:31 +0x85
main.main()
\t/build/shop/cmd/shop/main.go:12 +0x25
net/http.HandlerFunc.ServeHTTP(0xc0000a0000?, {0x7f1e40?, 0xc0000b4000?}, 0x0?)
\t/usr/local/go/src/net/http/server.go:2136 +0x29
created by net/http.(*Server).Serve in goroutine 1
\t/usr/local/go/src/net/http/server.go:3086 +0x4db

goroutine 1 [IO wait]:
internal/poll.runtime_pollWait(0x7f0c, 0x72)
\t/usr/local/go/src/runtime/netpoll.go:343 +0x85
exit status 2
after the crash"""


def test_go_panic_takes_the_panicking_goroutine():
    found = extract_stacks(GO)
    assert len(found) == 1
    st = found[0]
    assert st.language == "go" and st.exception == "panic" and st.message.startswith("runtime error: invalid memory")
    fr = st.frames
    assert (fr[0].module, fr[0].class_, fr[0].function, fr[0].line, fr[0].in_app) == \
        ("github.com/acme/shop/internal/cart", "Service", "Total", 57, True)
    assert (fr[1].class_, fr[1].function) == (None, "handleCart.func1")
    assert (fr[2].module, fr[2].function, fr[2].in_app) == ("main", "main", True)
    assert not fr[3].in_app and fr[3].class_ == "HandlerFunc"
    assert fr[-1].class_ == "Server" and not fr[-1].in_app  # "created by" is the outermost frame
    assert "poll" not in " ".join(f.qualified() for f in fr)  # other goroutines are not this crash


DOTNET = """Unhandled exception. System.InvalidOperationException: Checkout failed ---> System.NullReferenceException: Object reference not set to an instance of an object.
   at Acme.Shop.Pricing.DiscountCalculator.Apply(Order order, String code) in /src/Acme.Shop/Pricing/DiscountCalculator.cs:line 42
   at Acme.Shop.Services.CheckoutService.<PlaceOrderAsync>d__7.MoveNext() in /src/Acme.Shop/Services/CheckoutService.cs:line 88
   --- End of inner exception stack trace ---
   at Acme.Shop.Services.CheckoutService.<PlaceOrderAsync>d__7.MoveNext() in /src/Acme.Shop/Services/CheckoutService.cs:line 95
--- End of stack trace from previous location ---
   at System.Runtime.CompilerServices.TaskAwaiter.ThrowForNonSuccess(Task task)
   at Acme.Shop.Controllers.OrdersController.Post(OrderDto dto) in /src/Acme.Shop/Controllers/OrdersController.cs:line 27
   at lambda_method12(Closure , Object )
   at Acme.Shop.Models.Cart..ctor()
   at Microsoft.AspNetCore.Mvc.Infrastructure.ActionMethodExecutor.Execute(IActionResultTypeMapper mapper)"""


def test_dotnet_inner_exceptions_and_async_frames():
    st = parse_stack(DOTNET)
    assert st.language == "dotnet" and st.exception == "System.InvalidOperationException" and st.message == "Checkout failed"
    assert (st.frames[0].module, st.frames[0].class_, st.frames[0].function, st.frames[0].line) == \
        ("Acme.Shop.Services", "CheckoutService", "PlaceOrderAsync", 95)
    assert [f.in_app for f in st.frames] == [True, False, True, False, True, False]
    assert (st.frames[4].class_, st.frames[4].function) == ("Cart", ".ctor")
    inner = st.cause
    assert inner.exception == "System.NullReferenceException"
    assert [(f.class_, f.function, f.line) for f in inner.frames] == [("DiscountCalculator", "Apply", 42),
                                                                      ("CheckoutService", "PlaceOrderAsync", 88)]


@pytest.mark.parametrize("language, qualified, path, expected", [
    ("python", "requests.sessions.get", "/usr/lib/python3/dist-packages/requests/sessions.py", False),
    ("python", "shop.views.index", "/srv/shop/views.py", True),
    ("python", "runpy._run_code", "<frozen runpy>", False),
    ("go", "github.com/lib/pq.(*conn).Exec", "/root/go/pkg/mod/github.com/lib/pq@v1.10/conn.go", False),
    ("go", "sync.(*Once).Do", "/usr/local/go/src/sync/once.go", False),
    ("dotnet", "System.Linq.Enumerable.First", None, False),
    ("java", "org.junit.Assert.fail", "Assert.java", False),
])
def test_in_app_defaults(language, qualified, path, expected):
    assert is_in_app(language, qualified, path) is expected


def test_a_java_trace_flattened_onto_one_line_is_still_found():
    flat = ("2023-01-30 11:50:00 ERROR [ts-station-service] query failed com.mongodb.MongoTimeoutException: "
            "Timed out after 30000 ms\tat com.mongodb.internal.Cluster.select(Cluster.java:182)"
            "\tat station.service.StationServiceImpl.query(StationServiceImpl.java:41)"
            "\tat station.controller.StationController.query(StationController.java:28)")
    (st,) = extract_stacks(flat)
    assert st.exception == "com.mongodb.MongoTimeoutException" and len(st.frames) == 3
    assert st.frames[1].function == "query" and st.frames[1].line == 41


def test_an_apm_agent_interceptor_frame_is_not_the_crash_site():
    # SkyWalking (as in the DeepTraLog Train-Ticket logs) wraps every traced call in its interceptor;
    # the crash site is the application frame below it, not the agent.
    text = ("org.springframework.web.client.HttpServerErrorException: 500 null\n"
            "\tat org.springframework.web.client.DefaultResponseErrorHandler.handleError(DefaultResponseErrorHandler.java:111)\n"
            "\tat org.springframework.web.client.RestTemplate$auxiliary$8A5VBYOm.call(Unknown Source)\n"
            "\tat org.apache.skywalking.apm.agent.core.plugin.interceptor.enhance.InstMethodsInter.intercept(InstMethodsInter.java:86)\n"
            "\tat org.springframework.web.client.RestTemplate.exchange(RestTemplate.java:568)\n"
            "\tat travelplan.service.TravelPlanServiceImpl.getMinStation(TravelPlanServiceImpl.java:165)\n")
    st = parse_stack(text)
    assert [f.in_app for f in st.frames] == [False, False, False, False, True]
    assert not is_in_app("java", "io.opentelemetry.javaagent.bootstrap.Agent.run", "Agent.java")
