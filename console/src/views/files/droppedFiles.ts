/**
 * The files a user hands over, with the folder each came from: a drop may hold folders (walked through
 * DataTransferItem.webkitGetAsEntry), a folder picker gives each file its webkitRelativePath.
 */

export interface PickedFile {
  file: File;
  /** The folder path inside what was dropped or picked (`maps/dungeon`); '' for a file handed over alone. */
  folder: string;
}

const folderOf = (path: string) => path.replace(/^\/+/, '').split('/').slice(0, -1).join('/');

function fileOf(entry: FileSystemFileEntry): Promise<File> {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

/** A directory's entries: readEntries answers them in batches until one is empty. */
async function entriesOf(dir: FileSystemDirectoryEntry): Promise<FileSystemEntry[]> {
  const reader = dir.createReader();
  const all: FileSystemEntry[] = [];
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
    if (batch.length === 0) return all;
    all.push(...batch);
  }
}

async function walk(entry: FileSystemEntry): Promise<PickedFile[]> {
  if (entry.isFile) return [{ file: await fileOf(entry as FileSystemFileEntry), folder: folderOf(entry.fullPath) }];
  if (!entry.isDirectory) return [];
  const found: PickedFile[] = [];
  for (const child of await entriesOf(entry as FileSystemDirectoryEntry)) found.push(...(await walk(child)));
  return found;
}

/**
 * The files of a drop. The entries are taken while the event is being handled (the DataTransfer is
 * emptied once it returns); the folders are walked after.
 */
export function filesOfDrop(transfer: DataTransfer): Promise<PickedFile[]> {
  const entries: FileSystemEntry[] = [];
  const loose: File[] = [];
  for (const item of Array.from(transfer.items)) {
    if (item.kind !== 'file') continue;
    const entry = item.webkitGetAsEntry();
    const file = entry ? null : item.getAsFile();
    if (entry) entries.push(entry);
    else if (file) loose.push(file);
  }
  if (entries.length === 0 && loose.length === 0) loose.push(...Array.from(transfer.files));
  return (async () => {
    const found: PickedFile[] = loose.map((file) => ({ file, folder: '' }));
    for (const entry of entries) found.push(...(await walk(entry)));
    return found;
  })();
}

/** The files of a file input; a folder picker's carry their path inside the folder. */
export function filesOfInput(input: HTMLInputElement): PickedFile[] {
  return Array.from(input.files ?? []).map((file) => ({ file, folder: folderOf(file.webkitRelativePath ?? '') }));
}
