"""A Go ``text/template`` interpreter, enough for the templates Prometheus rule files use.

Modules: ``lexer`` and ``parser`` build a tree of ``nodes``; ``exec`` runs it with the
functions of ``builtins`` (Go's) and ``promfuncs`` (Prometheus's); ``gofmt`` prints values
exactly as Go's ``fmt`` does and ``goregexp`` gives Go's regexp semantics.
"""

from promalert.rules.gotemplate.builtins import BUILTINS
from promalert.rules.gotemplate.exec import GoFunc, GoFuncError, Param, execute
from promalert.rules.gotemplate.gofloat import format_float
from promalert.rules.gotemplate.gofmt import format_value, sprint, sprintf
from promalert.rules.gotemplate.parser import GoTemplateError, Tree, parse
from promalert.rules.gotemplate.values import GoMap, GoStruct

__all__ = [
    "BUILTINS",
    "GoFunc",
    "GoFuncError",
    "GoMap",
    "GoStruct",
    "GoTemplateError",
    "Param",
    "Tree",
    "execute",
    "format_float",
    "format_value",
    "parse",
    "sprint",
    "sprintf",
]
