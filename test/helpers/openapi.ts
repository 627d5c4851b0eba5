export { openApiDocument } from '../../scripts/openapi-document.js';
