{#- How a model names the relations it reads. On DuckDB, `ref` and `source` render schema.identifier, without the
    catalog: DuckDB names a file's catalog after its stem, and a view stores the text of its query, so a view naming
    "outflow"."main"."x" would stop working once the file is copied or renamed (`cp outflow.duckdb backup.duckdb`,
    OUTFLOW_WAREHOUSE=backup.duckdb), the catalog it names gone. Every model runs on the warehouse's own catalog, so
    the bare name reads the same relation. The relation keeps its database (`.database`); only its rendering drops
    it. Other engines keep dbt's names (dbt's documented `builtins` override; docs/warehouses.md). -#}

{% macro ref() %}
    {%- set version = kwargs.get('version') or kwargs.get('v') -%}
    {%- set rel = builtins.ref(*varargs, version=version) if version is not none else builtins.ref(*varargs) -%}
    {{ return(outflow_catalog_free(rel)) }}
{% endmacro %}

{% macro source(source_name, table_name) %}
    {{ return(outflow_catalog_free(builtins.source(source_name, table_name))) }}
{% endmacro %}

{% macro outflow_catalog_free(rel) %}
    {#- at parse time ref/source may return something else than a relation: pass it through -#}
    {%- if target.type == 'duckdb' and rel is not none and rel.include is defined -%}
        {{ return(rel.include(database=false)) }}
    {%- endif -%}
    {{ return(rel) }}
{% endmacro %}
