"""torch.nn.Module's own methods, as initialisation and helper code calls them
on models and containers (issue 11): one row per method.

Each becomes a call of a runtime helper (runtime/helpers.py) that does what
torch does on the translated model: ``m.named_children()`` ->
``module_named_children(m)``. The helpers walk the model in torch's order
(attributes in the order they were assigned, containers by index or name,
stateless layers that NNX keeps as functions in their place) and name
parameters and buffers as torch's ``state_dict`` does (``fc.weight``, not
``fc.kernel``). An object that has a method of that name itself (a translated
class overriding ``parameters``, something that is not an NNX module) gets
its own method called, so a rewritten call is never wrong for it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModuleMethod:
    name: str  # the torch method (``named_children``)
    helper: str  # the runtime helper it becomes
    # "module": only where the receiver is known to be a module (self, a module
    # attribute, a parameter annotated nn.Module, a translated class's
    # instance); "any": the name is torch's alone, so any receiver but a
    # tensor, an imported module or a local Python object
    receivers: str = "module"
    # arguments the helper gets before the call's own (eval() -> module_train(m, False))
    leading: tuple[str, ...] = ()
    # as a statement with no arguments NNX's own method does it (``model.eval()``)
    native_statement: bool = False
    # the value is the receiver again (train, eval, requires_grad_)
    returns_receiver: bool = False
    # what the result holds: "modules" (children, modules), "pairs" ((name, module)
    # pairs), "module" (get_submodule) or "" (nothing the layouts follow)
    yields: str = ""
    note: str = ""


METHODS = (
    ModuleMethod("named_children", "module_named_children", "any", yields="pairs",
                 note="registration order; containers' entries by index or name"),
    ModuleMethod("children", "module_children", "any", yields="modules"),
    ModuleMethod("named_modules", "module_named_modules", "any", yields="pairs",
                 note="pre-order from ('', module), names joined with '.'"),
    ModuleMethod("modules", "module_modules", "any", yields="modules"),
    ModuleMethod("named_parameters", "module_named_parameters", "any",
                 note="torch's state_dict names (weight, not kernel); the values are the NNX variables"),
    ModuleMethod("parameters", "module_parameters", "any"),
    ModuleMethod("named_buffers", "module_named_buffers", "any",
                 note="register_buffer's buffers and BatchNorm's running statistics (no num_batches_tracked)"),
    ModuleMethod("buffers", "module_buffers", "any"),
    ModuleMethod("apply", "module_apply", returns_receiver=True, note="children first, then the module, as torch"),
    ModuleMethod("get_submodule", "module_get_submodule", "any", yields="module"),
    ModuleMethod("add_module", "module_add_module", "any"),
    ModuleMethod("register_module", "module_add_module", "any"),
    ModuleMethod("requires_grad_", "module_requires_grad_", "any", returns_receiver=True,
                 note="frozen parameters become FrozenParam: nnx.Optimizer(..., wrt=nnx.Param) skips them"),
    ModuleMethod("train", "module_train", native_statement=True, returns_receiver=True),
    ModuleMethod("eval", "module_train", leading=("False",), native_statement=True, returns_receiver=True),
)

BY_NAME = {m.name: m for m in METHODS}

# ``p.requires_grad = flag`` on a parameter: the same helper as requires_grad_
REQUIRES_GRAD_ATTR = "requires_grad"
