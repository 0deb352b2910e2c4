// Where a node is defined in its flow file: the lines of its entry in the `nodes:` list, so a
// node opened in the graph can be shown in the YAML.

const INDENT = /^(\s*)/;

/** The first and last line (0-based) of node `name`'s entry under `nodes:`, or null. */
export function nodeLines(yaml: string, name: string): [number, number] | null {
  const lines = yaml.split("\n");
  const list = lines.findIndex((line) => /^\s*nodes:\s*$/.test(line));
  if (list < 0) return null;
  const quoted = name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  // the list's entries start at the indent of its first one; deeper dashes are inside values
  const first = lines.slice(list + 1).find((line) => line.trim() !== "");
  const dash = first && /^\s*-/.test(first) ? INDENT.exec(first)![1].length : 0;
  const entry = new RegExp(`^\\s{${dash}}-\\s+name:\\s*["']?${quoted}["']?\\s*(#.*)?$`);
  for (let i = list + 1; i < lines.length; i++) {
    if (!entry.test(lines[i])) continue;
    let end = i;
    for (let j = i + 1; j < lines.length; j++) {
      if (lines[j].trim() === "") continue;
      if (INDENT.exec(lines[j])![1].length <= dash) break;
      end = j;
    }
    return [i, end];
  }
  return null;
}
