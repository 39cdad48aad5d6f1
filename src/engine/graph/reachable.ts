import { VisageError } from '../../errors.js';
import { nodeInputs, type GraphNode, type NetworkDef } from './types.js';

/**
 * The names that `outputs` depend on (themselves included), walking back through `inputsOf`, which returns
 * undefined for a name the graph does not have (then `unknown(name)` is thrown). Any graph of named
 * layers: our NetworkDef below, Keras layers in the style converter.
 */
export function reachableNames(
  outputs: readonly string[],
  inputsOf: (name: string) => readonly string[] | undefined,
  unknown: (name: string) => Error,
): Set<string> {
  const need = new Set<string>();
  const stack = [...outputs];
  while (stack.length) {
    const name = stack.pop()!;
    if (need.has(name)) continue;
    const inputs = inputsOf(name);
    if (!inputs) throw unknown(name);
    need.add(name);
    stack.push(...inputs);
  }
  return need;
}

/**
 * The names of the nodes that `outputs` depend on (themselves included), so that a graph writer emits only
 * what those outputs need — e.g. a style network cut at its deepest tap. An unknown name is E_UNKNOWN_LAYER.
 */
export function reachableNodes(def: NetworkDef, outputs: readonly string[]): Set<string> {
  const byName = new Map<string, GraphNode>(def.nodes.map((n) => [n.name, n]));
  return reachableNames(
    outputs,
    (name) => {
      const n = byName.get(name);
      return n && nodeInputs(n);
    },
    (name) =>
      new VisageError('E_UNKNOWN_LAYER', `network ${def.name} has no layer "${name}"`, { layer: name }),
  );
}
