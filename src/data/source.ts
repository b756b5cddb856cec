import { cachedDownload, SOURCES } from '../io/download';
import { loadNewsgroups, Newsgroups } from './newsgroups';

/** Loads the data set from --data, or from the official archive downloaded into the cache. */
export async function loadData(data: string | undefined): Promise<{ data: Newsgroups; source: string }> {
  const source = data ?? (await cachedDownload(SOURCES.newsgroups, '20news-bydate.tar.gz', '--data <20news-bydate.tar.gz | folder>'));
  return { data: await loadNewsgroups(source), source };
}
