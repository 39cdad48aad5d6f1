import { VisageError } from '../../errors.js';
import { nodeInputs, type GraphNode, type NetworkDef } from './types.js';

/**
 * The names of the nodes that `outputs` depend on (themselves included), so that a graph writer emits only
 * what those outputs need — e.g. a style network cut at its deepest tap. An unknown name is E_UNKNOWN_LAYER.
 */
export function reachableNodes(def: NetworkDef, outputs: readonly string[]): Set<string> {
  const byName = new Map<string, GraphNode>(def.nodes.map((n) => [n.name, n]));
  const need = new Set<string>();
  const stack = [...outputs];
  while (stack.length) {
    const name = stack.pop()!;
    if (need.has(name)) continue;
    const n = byName.get(name);
    if (!n)
      throw new VisageError('E_UNKNOWN_LAYER', `network ${def.name} has no layer "${name}"`, { layer: name });
    need.add(name);
    stack.push(...nodeInputs(n));
  }
  return need;
}
