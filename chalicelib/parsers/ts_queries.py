"""Tree-sitter queries, one per language: what `treesitter` captures and under which name.

Capture names are explained in `ts_languages` (definition kinds, `call`, `callsite`,
`import`, `import.<how>`; names starting with `_` only serve predicates). Patterns are kept
to node types that exist in the grammar they are compiled for: a pattern naming a node type
the grammar lacks fails at compile time, which the tests catch.
"""

from __future__ import annotations

PYTHON_QUERY = """
(class_definition name: (identifier)) @class
(function_definition name: (identifier)) @function
(type_alias_statement) @type
(module (expression_statement (assignment left: (identifier) @_c
  (#match? @_c "^_*[A-Z][A-Z0-9_]*$")) @constant))
(module (expression_statement (assignment left: (identifier)) @variable))
(import_statement name: (dotted_name) @import)
(import_statement name: (aliased_import name: (dotted_name) @import))
(import_from_statement) @import.python
(call function: (_) @call)
"""

_ECMASCRIPT = """
(function_declaration name: (_)) @function
(generator_function_declaration name: (_)) @function
(class_declaration name: (_)) @class
(class_body (method_definition name: (_)) @method)
(variable_declarator name: (identifier)
  value: [(arrow_function) (function_expression) (generator_function)]) @function
(assignment_expression left: (member_expression property: (property_identifier))
  right: [(arrow_function) (function_expression)]) @function
(program (lexical_declaration "const" (variable_declarator name: (identifier)) @constant))
(program (lexical_declaration "let" (variable_declarator name: (identifier)) @variable))
(program (variable_declaration (variable_declarator name: (identifier)) @variable))
(program (export_statement declaration:
  (lexical_declaration "const" (variable_declarator name: (identifier)) @constant)))
(program (export_statement declaration:
  (lexical_declaration "let" (variable_declarator name: (identifier)) @variable)))
(import_statement source: (string (string_fragment) @import))
(export_statement source: (string (string_fragment) @import))
(call_expression function: (identifier) @_f arguments: (arguments . (string (string_fragment)
  @import)) (#eq? @_f "require"))
(call_expression function: (import) arguments: (arguments . (string (string_fragment) @import)))
(call_expression function: (_) @call)
(new_expression constructor: (_) @call)
"""

JAVASCRIPT_QUERY = (
    _ECMASCRIPT
    + """
(class_body (field_definition property: (_)
  value: [(arrow_function) (function_expression)]) @method)
"""
)

TYPESCRIPT_QUERY = (
    _ECMASCRIPT
    + """
(class_body (public_field_definition name: (_)
  value: [(arrow_function) (function_expression)]) @method)
(abstract_class_declaration name: (_)) @class
(class_body (abstract_method_signature name: (_)) @method)
(interface_declaration name: (_)) @interface
(interface_body (method_signature name: (_)) @method)
(type_alias_declaration name: (_)) @type
(enum_declaration name: (_)) @enum
(internal_module name: (_)) @module
(module name: (_)) @module
"""
)

GO_QUERY = """
(package_clause) @package
(function_declaration name: (_)) @function
(method_declaration name: (_)) @method
(type_spec name: (_) type: (struct_type)) @struct
(type_spec name: (_) type: (interface_type)) @interface
(type_spec name: (_)) @type
(type_alias name: (_)) @type
(interface_type (method_elem name: (_)) @method)
(source_file (const_declaration (const_spec name: (_)) @constant))
(source_file (var_declaration (var_spec name: (_)) @variable))
(source_file (var_declaration (var_spec_list (var_spec name: (_)) @variable)))
(import_spec path: (_) @import)
(call_expression function: (_) @call)
"""

RUST_QUERY = """
(function_item name: (_)) @function
(function_signature_item name: (_)) @function
(struct_item name: (_)) @struct
(union_item name: (_)) @struct
(enum_item name: (_)) @enum
(trait_item name: (_)) @trait
(impl_item type: (_)) @impl
(mod_item name: (_) body: (_)) @module
(type_item name: (_)) @type
(macro_definition name: (_)) @function
(source_file (const_item name: (_)) @constant)
(source_file (static_item name: (_)) @variable)
(use_declaration argument: (_) @import.rust)
(extern_crate_declaration name: (_) @import)
(call_expression function: (_) @call)
(macro_invocation macro: (_) @call)
"""

JAVA_QUERY = """
(package_declaration) @package
(class_declaration name: (_)) @class
(record_declaration name: (_)) @class
(interface_declaration name: (_)) @interface
(annotation_type_declaration name: (_)) @interface
(enum_declaration name: (_)) @enum
(method_declaration name: (_)) @method
(constructor_declaration name: (_)) @method
(import_declaration) @import.java
(method_invocation) @callsite
(object_creation_expression type: (_) @call)
"""

C_QUERY = """
(function_definition declarator: (_)) @function
(struct_specifier name: (_) body: (_)) @struct
(union_specifier name: (_) body: (_)) @struct
(enum_specifier name: (_) body: (_)) @enum
(type_definition declarator: (_)) @type
(preproc_def name: (_)) @constant
(preproc_function_def name: (_)) @function
(translation_unit (declaration
  declarator: [(init_declarator) (identifier) (array_declarator)]) @variable)
(preproc_include path: (_) @import)
(call_expression function: (_) @call)
"""

CPP_QUERY = (
    C_QUERY
    + """
(class_specifier name: (_) body: (_)) @class
(namespace_definition name: (_)) @module
(alias_declaration name: (_)) @type
(new_expression type: (_) @call)
"""
)
