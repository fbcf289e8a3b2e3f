import {
  type ColumnDefinitionNode,
  DataTypeNode,
  OperationNodeTransformer,
  sql,
  type KyselyPlugin,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type QueryId,
  type QueryResult,
  type RootOperationNode,
  type UnknownRow,
} from 'kysely';

/**
 * Read-model migrations are written once, in the portable column types (`text`, `integer`,
 * `bigint`, `double precision`), and run unchanged on SQLite and PostgreSQL. On PostgreSQL this
 * plugin, applied to the migrator's connection only, gives them SQLite's meaning:
 *
 * - `integer` becomes `bigint`: SQLite's integers are 64-bit (log positions, counts, sums of cents),
 *   PostgreSQL's `integer` is 32-bit;
 * - `text` becomes `text COLLATE "C"`: SQLite compares text byte by byte, so keyset pagination,
 *   `ORDER BY` and comparisons of ISO-8601 instants give the same answers on both stores whatever the
 *   database's default collation.
 *
 * Landed migrations (released ones are never edited) keep working that way; see docs/read-models.md.
 */
export class PortableSchemaPlugin implements KyselyPlugin {
  private readonly transformer = new PortableSchemaTransformer();

  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    return this.transformer.transformNode(args.node, args.queryId);
  }

  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return args.result;
  }
}

const TEXT_BYTEWISE = sql.raw('text collate "C"').toOperationNode();

class PortableSchemaTransformer extends OperationNodeTransformer {
  protected override transformDataType(node: DataTypeNode): DataTypeNode {
    return node.dataType === 'integer' ? DataTypeNode.create('bigint') : node;
  }

  protected override transformColumnDefinition(node: ColumnDefinitionNode, queryId?: QueryId): ColumnDefinitionNode {
    const transformed = super.transformColumnDefinition(node, queryId);
    if (DataTypeNode.is(transformed.dataType) && transformed.dataType.dataType === 'text') {
      // cloneWith cannot change the data type
      return Object.freeze({ ...transformed, dataType: TEXT_BYTEWISE });
    }
    return transformed;
  }
}
