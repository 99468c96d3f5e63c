"""Tree-sitter queries, one per language: what `treesitter` captures and under which name.

Capture names are explained in `ts_languages` (definition kinds, `call`, `callsite`,
`import`, `import.<how>`; names starting with `_` only serve predicates). Patterns are kept
to node types that exist in the grammar they are compiled for: a pattern naming a node type
the grammar lacks fails at compile time, which the tests catch.

A `*_TOP_QUERY` holds a language's patterns anchored at the root node (`module`, `program`,
`translation_unit`, ...), which are matched from the root only: kept in the main query, each
would stay in progress over the whole walk of the tree and slow every step of it. Their
capture names are not used by the main query.
"""

from __future__ import annotations

PYTHON_QUERY = """
(class_definition name: (identifier)) @class
(function_definition name: (identifier)) @function
(type_alias_statement) @type
(import_statement name: (dotted_name) @import)
(import_statement name: (aliased_import name: (dotted_name) @import))
(import_from_statement) @import.python
(call function: (_) @call)
"""

PYTHON_TOP_QUERY = """
(module (expression_statement (assignment left: (identifier) @_c
  (#match? @_c "^_*[A-Z][A-Z0-9_]*$")) @constant))
(module (expression_statement (assignment left: (identifier)) @variable))
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
(import_statement source: (string (string_fragment) @import))
(export_statement source: (string (string_fragment) @import))
(call_expression function: (identifier) @_f arguments: (arguments . (string (string_fragment)
  @import)) (#eq? @_f "require"))
(call_expression function: (import) arguments: (arguments . (string (string_fragment) @import)))
(call_expression function: (_) @call)
(new_expression constructor: (_) @call)
"""

ECMASCRIPT_TOP_QUERY = """
(program (lexical_declaration "const" (variable_declarator name: (identifier)) @constant))
(program (lexical_declaration "let" (variable_declarator name: (identifier)) @variable))
(program (variable_declaration (variable_declarator name: (identifier)) @variable))
(program (export_statement declaration:
  (lexical_declaration "const" (variable_declarator name: (identifier)) @constant)))
(program (export_statement declaration:
  (lexical_declaration "let" (variable_declarator name: (identifier)) @variable)))
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
(import_spec path: (_) @import)
(call_expression function: (_) @call)
"""

GO_TOP_QUERY = """
(source_file (const_declaration (const_spec name: (_)) @constant))
(source_file (var_declaration (var_spec name: (_)) @variable))
(source_file (var_declaration (var_spec_list (var_spec name: (_)) @variable)))
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
(preproc_include path: (_) @import)
(call_expression function: (_) @call)
"""

C_TOP_QUERY = """
(translation_unit (declaration
  declarator: [(init_declarator) (identifier) (array_declarator)]) @variable)
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

# Ruby, PHP, C#, Kotlin

# A `def` is a method anywhere but at the top of the file, where it is a function (the
# earlier kind wins); every `a.b` is a call in Ruby, named up to its method (`x.save!`).
RUBY_QUERY = """
(class name: (_)) @class
(module name: (_)) @module
(method name: (_)) @method
(singleton_method name: (_)) @method
(program (method name: (_)) @function)
(program (singleton_method name: (_)) @function)
(program (assignment left: (constant)) @constant)
(class body: (body_statement (assignment left: (constant)) @constant))
(module body: (body_statement (assignment left: (constant)) @constant))
(call !receiver method: (identifier) @_require arguments: (argument_list . (string
  (string_content) @import)) (#any-of? @_require "require" "require_relative"))
(call method: (_)) @callsite.method
"""

# A `namespace X;` covers the rest of the file, so it is a package (not a scope), like Java's.
_PHP_PATH = "[(string) (encapsed_string . (string_content) .)] @import"

PHP_QUERY = """
(namespace_definition name: (_) body: (_)) @module
(namespace_definition name: (_) !body) @package
(class_declaration name: (_)) @class
(interface_declaration name: (_)) @interface
(trait_declaration name: (_)) @trait
(enum_declaration name: (_)) @enum
(function_definition name: (_)) @function
(method_declaration name: (_)) @method
(const_declaration (const_element) @constant)
(namespace_use_declaration) @import.php
(function_call_expression function: (_) @call)
[(member_call_expression) (nullsafe_member_call_expression)
  (scoped_call_expression)] @callsite
(object_creation_expression [(name) (qualified_name)] @call)
""" + "".join(  # `require 'x.php';` and `require('x.php');`, the path a plain string
    f"({kind} {_PHP_PATH})\n({kind} (parenthesized_expression {_PHP_PATH}))\n"
    for kind in ("include_expression", "include_once_expression", "require_expression",
                 "require_once_expression")
)  # fmt: skip

# Properties are members with accessors: methods, as Java's getters are; fields are not
# symbols (as in Java) except `const` ones. A file-scoped `namespace X;` is a package.
CSHARP_QUERY = """
(namespace_declaration name: (_)) @module
(file_scoped_namespace_declaration name: (_)) @package
(class_declaration name: (_)) @class
(record_declaration name: (_)) @class
(struct_declaration name: (_)) @struct
(interface_declaration name: (_)) @interface
(enum_declaration name: (_)) @enum
(delegate_declaration name: (_)) @type
(method_declaration name: (_)) @method
(constructor_declaration name: (_)) @method
(property_declaration name: (_)) @method
(local_function_statement name: (_)) @function
(field_declaration (modifier "const")
  (variable_declaration (variable_declarator name: (_)) @constant))
(using_directive !name [(identifier) (qualified_name)] @import)
(using_directive name: (_) "=" [(identifier) (qualified_name) (generic_name)] @import)
(invocation_expression function: (_) @call)
(object_creation_expression type: (_) @call)
"""

# Interfaces and enum classes are `class_declaration`s too; top-level and object-level
# properties are variables (`const val`: constants), class-level ones are not symbols.
KOTLIN_QUERY = """
(package_header) @package
(class_declaration (modifiers)? @_modifiers "class" name: (_)
  (#not-match? @_modifiers "(^|\\\\s)enum\\\\b")) @class
(class_declaration "interface" name: (_)) @interface
(class_declaration (modifiers (class_modifier "enum")) name: (_)) @enum
(object_declaration name: (_)) @class
(companion_object name: (_)) @class
(function_declaration name: (_)) @function
(secondary_constructor) @method
(type_alias type: (_)) @type
(source_file (property_declaration) @variable)
(object_declaration (class_body (property_declaration) @variable))
(companion_object (class_body (property_declaration) @variable))
(property_declaration (modifiers (property_modifier "const"))) @constant
(import (qualified_identifier) @import)
(call_expression . (_) @call)
"""

# Swift, Scala, Lua, Bash

SWIFT_QUERY = """
(class_declaration declaration_kind: "class" name: (_)) @class
(class_declaration declaration_kind: "actor" name: (_)) @class
(class_declaration declaration_kind: "struct" name: (_)) @struct
(class_declaration declaration_kind: "enum" name: (_)) @enum
(class_declaration declaration_kind: "extension" name: (_)) @impl
(protocol_declaration name: (_)) @interface
(protocol_function_declaration name: (_)) @function
(function_declaration name: (_)) @function
(init_declaration) @function
(typealias_declaration name: (_)) @type
(source_file (property_declaration (value_binding_pattern mutability: "let")
  name: (pattern bound_identifier: (_))) @constant)
(source_file (property_declaration (value_binding_pattern mutability: "var")
  name: (pattern bound_identifier: (_))) @variable)
(import_declaration (identifier) @import)
(call_expression . (_) @call)
(constructor_expression constructed_type: (_) @call)
"""

SCALA_QUERY = """
(package_clause) @package
(package_object name: (_)) @module
(object_definition name: (_)) @class
(class_definition name: (_)) @class
(trait_definition name: (_)) @trait
(enum_definition name: (_)) @enum
(function_definition name: (_)) @function
(function_declaration name: (_)) @function
(type_definition name: (_)) @type
(compilation_unit (val_definition pattern: (identifier)) @constant)
(compilation_unit (var_definition pattern: (identifier)) @variable)
(object_definition body: (template_body (val_definition pattern: (identifier)) @constant))
(object_definition body: (template_body (var_definition pattern: (identifier)) @variable))
(package_object body: (template_body (val_definition pattern: (identifier)) @constant))
(package_object body: (template_body (var_definition pattern: (identifier)) @variable))
(import_declaration) @import.scala
(call_expression function: [(identifier) (field_expression)] @call)
(call_expression function: (generic_function function: (_) @call))
(instance_expression [(type_identifier) (stable_type_identifier)] @call)
(instance_expression (generic_type type: (_) @call))
"""

LUA_QUERY = """
(function_declaration name: (_)) @function
(assignment_statement
  (variable_list . name: [(identifier) (dot_index_expression)] .)
  (expression_list . value: (function_definition) .)) @function
(chunk (variable_declaration (assignment_statement
  (variable_list . name: (identifier) @_m .)
  (expression_list . value: (table_constructor) .)) @package)
  (return_statement (expression_list . (identifier) @_r .))
  (#eq? @_m @_r))
(chunk (variable_declaration (assignment_statement
  (variable_list . name: (identifier) @_c .) (#match? @_c "^_*[A-Z][A-Z0-9_]*$")) @constant))
(chunk (variable_declaration (assignment_statement (variable_list . name: (identifier) .))
  @variable))
(function_call name: (identifier) @_f arguments: (arguments . (string content: (_) @import))
  (#eq? @_f "require"))
(function_call name: (_) @call)
"""

# Shell builtins are not recorded as calls: only functions and external commands are.
_SHELL_BUILTINS = (
    "alias|bg|bind|break|builtin|caller|cd|command|compgen|complete|compopt|continue|declare"
    "|dirs|disown|echo|enable|eval|exec|exit|export|false|fc|fg|getopts|hash|help|history|jobs"
    "|kill|let|local|logout|mapfile|popd|printf|pushd|pwd|read|readarray|readonly|return|set"
    "|shift|shopt|source|suspend|test|times|trap|true|type|typeset|ulimit|umask|unalias|unset"
    "|wait"
)

SHELL_QUERY = f"""
(function_definition name: (_)) @function
(command name: (command_name (word) @_c) . argument: (_) @import.shell
  (#any-of? @_c "source" "."))
(command name: (command_name (word) @call)
  (#match? @call "^[A-Za-z_][A-Za-z0-9_]*$")
  (#not-match? @call "^(?:{_SHELL_BUILTINS})$"))
"""
