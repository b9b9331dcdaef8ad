"""The records of a parsed stack trace and the in-app rules: ``Frame``, ``StackTrace``, and which
frames are the user's code (``is_in_app``) or test code (``looks_like_test``).

``signals.stacks`` fills these records from text; fingerprints, frame resolution and RCA read
them. The in-app defaults are Sentry-like (``site-packages``, the Python standard library,
``node_modules``, ``node:internal``, ``java.*``, ``sun.*``, ``org.junit.*``, ``System.*``,
``Microsoft.*``, the Go runtime and module cache …); a caller overrides them with include /
exclude prefixes matched against the qualified name and the file path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Sequence

__all__ = ["Frame", "StackTrace", "is_in_app", "looks_like_test", "LANGUAGES"]

LANGUAGES = ("python", "java", "javascript", "go", "dotnet")


@dataclass
class Frame:
    """One stack frame. ``module``: Python/JS module, Java/.NET namespace, Go package path."""

    module: str | None
    class_: str | None
    function: str | None
    file: str | None
    line: int | None
    in_app: bool = False
    column: int | None = None
    source: str | None = None  # the code line, when the trace printed it (Python)

    def qualified(self) -> str:
        """``module.Class.function`` with the parts that exist (``/`` kept for Go paths)."""
        return ".".join(p for p in (self.module, self.class_, self.function) if p)

    def to_dict(self) -> dict[str, Any]:
        """The frame as the ``crashlens frames --json`` contract spells it (``class``, not ``class_``)."""
        return {"module": self.module, "class": self.class_, "function": self.function, "file": self.file,
                "line": self.line, "in_app": self.in_app}


@dataclass
class StackTrace:
    """A parsed trace; ``frames`` innermost first; ``cause`` the exception that led to this one."""

    language: str
    exception: str | None
    message: str
    frames: list[Frame] = field(default_factory=list)
    cause: "StackTrace | None" = None
    text: str = ""  # the lines this trace was parsed from

    def chain(self) -> list["StackTrace"]:
        """This exception, then its cause, then the cause's cause …"""
        out: list[StackTrace] = []
        cur: StackTrace | None = self
        while cur is not None and len(out) < 50:
            out.append(cur)
            cur = cur.cause
        return out

    def root_cause(self) -> "StackTrace":
        return self.chain()[-1]

    def to_dict(self) -> dict[str, Any]:
        return {"language": self.language, "exception": self.exception, "message": self.message,
                "frames": [f.to_dict() for f in self.frames],
                "cause": self.cause.to_dict() if self.cause else None}


# --- in-app rules -------------------------------------------------------------------------

# Qualified-name prefixes that are never the user's code, per language.
_NOT_APP_NAMES: dict[str, tuple[str, ...]] = {
    "java": ("java.", "javax.", "jdk.", "sun.", "com.sun.", "kotlin.", "kotlinx.", "scala.", "groovy.",
             "org.codehaus.groovy.", "junit.", "org.junit.", "org.testng.", "org.apache.tools.ant.", "org.gradle.",
             "org.apache.maven.", "org.eclipse.jdt.", "com.intellij.", "org.mockito.", "net.bytebuddy.",
             "org.springframework.", "org.hibernate.", "org.apache.catalina.", "org.apache.coyote.",
             "org.apache.tomcat.", "org.eclipse.jetty.", "io.netty.", "reactor.", "io.reactivex.", "akka.",
             "jakarta.", "org.aspectj.", "com.google.inject.", "org.jboss.", "worker.org.gradle.",
             # Bytecode-instrumentation APM agents inject an interceptor frame into every traced
             # call (SkyWalking's InstMethodsInter, OpenTelemetry's, Elastic's, New Relic's,
             # Datadog's, Pinpoint's, Glowroot's): it wraps the user's code, it is never it.
             "org.apache.skywalking.apm.", "io.opentelemetry.javaagent.", "co.elastic.apm.", "com.newrelic.",
             "datadog.trace.", "com.navercorp.pinpoint.", "org.glowroot."),
    "dotnet": ("System.", "Microsoft.", "Newtonsoft.", "NUnit.", "Xunit.", "xunit.", "Castle.", "lambda_method",
               "Npgsql.", "Polly.", "MediatR.", "Grpc."),
    "go": ("runtime.", "runtime/", "testing.", "net/http.", "net.", "sync.", "reflect.", "os.", "syscall.",
           "internal/", "database/sql.", "encoding/", "io.", "bufio.", "fmt.", "context.", "golang.org/x/"),
    "python": (),
    "javascript": (),
}
# File-path fragments that mark library or runtime code.
_NOT_APP_PATHS: dict[str, tuple[str, ...]] = {
    "python": ("site-packages/", "dist-packages/", "/lib/python", "\\lib\\", "<frozen", "/.venv/", "/venv/",
               "/pypy", "/usr/lib/python", "<string>", "<attrs generated"),
    "javascript": ("node_modules/", "node:", "internal/", "<anonymous>", "webpack/bootstrap", "native "),
    "go": ("/usr/local/go/src/", "/go/pkg/mod/", "/pkg/mod/", "/vendor/", "GOROOT/", "/usr/lib/go"),
    "java": (),
    "dotnet": (),
}
_TEST_CLASS = re.compile(r"(?:^|[.$/\\])(?:\w*Tests?|\w*TestCase|\w*Spec|Test\w+|\w*IT)(?:$|[.$])")
_TEST_PATH = re.compile(r"(?:^|[/\\])(?:tests?|__tests__|spec|src[/\\]test)[/\\]|(?:^|[/\\])test_[^/\\]*\.py$|_test\.(?:py|go)$|\.(?:test|spec)\.[jt]sx?$")


def looks_like_test(frame: Frame) -> bool:
    """Is this frame in test code (a test class or a file under tests/, test_*.py, *_test.go …)?"""
    if frame.file and _TEST_PATH.search(frame.file.replace("\\", "/") if "\\" in frame.file else frame.file):
        return True
    name = ".".join(p for p in (frame.module, frame.class_) if p)
    return bool(name and _TEST_CLASS.search(name))


def is_in_app(language: str, qualified: str, path: str | None,
              include: Sequence[str] = (), exclude: Sequence[str] = ()) -> bool:
    """The in-app decision for one frame: include rules, exclude rules, then the language's defaults.

    >>> is_in_app("java", "java.util.HashMap.get", "HashMap.java")
    False
    >>> is_in_app("java", "java.util.HashMap.get", "HashMap.java", include=["java.util."])
    True
    """
    candidates = (qualified, path or "")
    # as in Sentry's SDKs, an include rule takes precedence over an exclude rule
    if include and any(c.startswith(p) or (p in c and "/" in p) for c in candidates for p in include):
        return True
    if exclude and any(c.startswith(p) or (p in c and "/" in p) for c in candidates for p in exclude):
        return False
    if qualified.startswith(_NOT_APP_NAMES.get(language, ())):
        return False
    if path:
        norm = path.replace("\\", "/").lower() if language != "python" else path.replace("\\", "/")
        if any(frag in norm for frag in _NOT_APP_PATHS.get(language, ())):
            return False
    if language == "go" and not qualified.startswith("main."):
        # The standard library's first path element has no dot ("net/http", "runtime");
        # third-party code in the module cache or vendor/ was excluded by path above.
        first = qualified.split("/", 1)[0] if "/" in qualified else qualified.split(".", 1)[0]
        if "." not in first:
            return False
    if language == "javascript" and not path:
        return False
    return True
