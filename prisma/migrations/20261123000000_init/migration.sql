-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateTable
CREATE TABLE "Tenant" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "state" TEXT NOT NULL DEFAULT 'active',
    "isOperator" BOOLEAN NOT NULL DEFAULT false,
    "branding" JSONB NOT NULL DEFAULT '{}',
    "termsRequired" BOOLEAN NOT NULL DEFAULT false,
    "pwMinLength" INTEGER NOT NULL DEFAULT 12,
    "pwRequireUpper" BOOLEAN NOT NULL DEFAULT true,
    "pwRequireLower" BOOLEAN NOT NULL DEFAULT true,
    "pwRequireDigit" BOOLEAN NOT NULL DEFAULT true,
    "pwRequireSymbol" BOOLEAN NOT NULL DEFAULT false,
    "lockoutMaxAttempts" INTEGER NOT NULL DEFAULT 10,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "Tenant_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "TenantIdentity" (
    "tenantId" UUID NOT NULL,
    "subdomain" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "attributes" JSONB NOT NULL DEFAULT '{}',
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "TenantIdentity_pkey" PRIMARY KEY ("tenantId")
);

-- CreateTable
CREATE TABLE "User" (
    "id" UUID NOT NULL,
    "tenantId" UUID NOT NULL,
    "username" TEXT NOT NULL,
    "usernameLower" TEXT NOT NULL,
    "email" TEXT NOT NULL,
    "emailLower" TEXT NOT NULL,
    "firstName" TEXT NOT NULL DEFAULT '',
    "lastName" TEXT NOT NULL DEFAULT '',
    "state" TEXT NOT NULL DEFAULT 'initial',
    "passwordHash" TEXT,
    "failedLogins" INTEGER NOT NULL DEFAULT 0,
    "idpId" UUID,
    "externalId" TEXT,
    "termsAcceptedAt" TIMESTAMPTZ(3),
    "lastLoginAt" TIMESTAMPTZ(3),
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "User_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "UserGroup" (
    "id" UUID NOT NULL,
    "tenantId" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "nameLower" TEXT NOT NULL,
    "description" TEXT NOT NULL DEFAULT '',
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "UserGroup_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "GroupMembership" (
    "tenantId" UUID NOT NULL,
    "groupId" UUID NOT NULL,
    "userId" UUID NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "GroupMembership_pkey" PRIMARY KEY ("tenantId","groupId","userId")
);

-- CreateTable
CREATE TABLE "FeatureRole" (
    "name" TEXT NOT NULL,
    "category" TEXT NOT NULL,
    "description" TEXT NOT NULL,

    CONSTRAINT "FeatureRole_pkey" PRIMARY KEY ("name")
);

-- CreateTable
CREATE TABLE "CustomRole" (
    "id" UUID NOT NULL,
    "tenantId" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "nameLower" TEXT NOT NULL,
    "description" TEXT NOT NULL DEFAULT '',
    "featureRoles" TEXT[],
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "CustomRole_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "RoleAssignment" (
    "id" UUID NOT NULL,
    "tenantId" UUID NOT NULL,
    "roleName" TEXT NOT NULL,
    "userId" UUID,
    "groupId" UUID,
    "serviceAccountId" UUID,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "RoleAssignment_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ServiceAccount" (
    "id" UUID NOT NULL,
    "tenantId" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "username" TEXT NOT NULL,
    "usernameLower" TEXT NOT NULL,
    "description" TEXT NOT NULL DEFAULT '',
    "accessTokenType" TEXT NOT NULL DEFAULT 'Bearer',
    "expirationDate" TIMESTAMPTZ(3),
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "ServiceAccount_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "PersonalAccessToken" (
    "id" UUID NOT NULL,
    "tenantId" UUID NOT NULL,
    "serviceAccountId" UUID NOT NULL,
    "tokenHash" TEXT NOT NULL,
    "expiresAt" TIMESTAMPTZ(3) NOT NULL,
    "lastUsedAt" TIMESTAMPTZ(3),
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "PersonalAccessToken_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "AuditEvent" (
    "id" UUID NOT NULL,
    "tenantId" UUID,
    "actorKind" TEXT NOT NULL,
    "actorId" TEXT,
    "action" TEXT NOT NULL,
    "targetType" TEXT NOT NULL,
    "targetId" TEXT,
    "details" JSONB NOT NULL DEFAULT '{}',
    "requestId" TEXT,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "AuditEvent_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "TenantIdentity_subdomain_key" ON "TenantIdentity"("subdomain");

-- CreateIndex
CREATE INDEX "User_tenantId_createdAt_idx" ON "User"("tenantId", "createdAt");

-- CreateIndex
CREATE UNIQUE INDEX "User_tenantId_id_key" ON "User"("tenantId", "id");

-- CreateIndex
CREATE UNIQUE INDEX "User_tenantId_usernameLower_key" ON "User"("tenantId", "usernameLower");

-- CreateIndex
CREATE UNIQUE INDEX "User_tenantId_emailLower_key" ON "User"("tenantId", "emailLower");

-- CreateIndex
CREATE UNIQUE INDEX "UserGroup_tenantId_id_key" ON "UserGroup"("tenantId", "id");

-- CreateIndex
CREATE UNIQUE INDEX "UserGroup_tenantId_nameLower_key" ON "UserGroup"("tenantId", "nameLower");

-- CreateIndex
CREATE INDEX "GroupMembership_tenantId_userId_idx" ON "GroupMembership"("tenantId", "userId");

-- CreateIndex
CREATE UNIQUE INDEX "CustomRole_tenantId_id_key" ON "CustomRole"("tenantId", "id");

-- CreateIndex
CREATE UNIQUE INDEX "CustomRole_tenantId_nameLower_key" ON "CustomRole"("tenantId", "nameLower");

-- CreateIndex
CREATE INDEX "RoleAssignment_tenantId_roleName_idx" ON "RoleAssignment"("tenantId", "roleName");

-- CreateIndex
CREATE UNIQUE INDEX "RoleAssignment_tenantId_userId_roleName_key" ON "RoleAssignment"("tenantId", "userId", "roleName");

-- CreateIndex
CREATE UNIQUE INDEX "RoleAssignment_tenantId_groupId_roleName_key" ON "RoleAssignment"("tenantId", "groupId", "roleName");

-- CreateIndex
CREATE UNIQUE INDEX "RoleAssignment_tenantId_serviceAccountId_roleName_key" ON "RoleAssignment"("tenantId", "serviceAccountId", "roleName");

-- CreateIndex
CREATE UNIQUE INDEX "ServiceAccount_tenantId_id_key" ON "ServiceAccount"("tenantId", "id");

-- CreateIndex
CREATE UNIQUE INDEX "ServiceAccount_tenantId_usernameLower_key" ON "ServiceAccount"("tenantId", "usernameLower");

-- CreateIndex
CREATE UNIQUE INDEX "PersonalAccessToken_tokenHash_key" ON "PersonalAccessToken"("tokenHash");

-- CreateIndex
CREATE INDEX "PersonalAccessToken_tenantId_serviceAccountId_idx" ON "PersonalAccessToken"("tenantId", "serviceAccountId");

-- CreateIndex
CREATE UNIQUE INDEX "PersonalAccessToken_tenantId_id_key" ON "PersonalAccessToken"("tenantId", "id");

-- CreateIndex
CREATE INDEX "AuditEvent_tenantId_createdAt_idx" ON "AuditEvent"("tenantId", "createdAt");

-- AddForeignKey
ALTER TABLE "TenantIdentity" ADD CONSTRAINT "TenantIdentity_tenantId_fkey" FOREIGN KEY ("tenantId") REFERENCES "Tenant"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "User" ADD CONSTRAINT "User_tenantId_fkey" FOREIGN KEY ("tenantId") REFERENCES "Tenant"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "UserGroup" ADD CONSTRAINT "UserGroup_tenantId_fkey" FOREIGN KEY ("tenantId") REFERENCES "Tenant"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "GroupMembership" ADD CONSTRAINT "GroupMembership_tenantId_groupId_fkey" FOREIGN KEY ("tenantId", "groupId") REFERENCES "UserGroup"("tenantId", "id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "GroupMembership" ADD CONSTRAINT "GroupMembership_tenantId_userId_fkey" FOREIGN KEY ("tenantId", "userId") REFERENCES "User"("tenantId", "id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "CustomRole" ADD CONSTRAINT "CustomRole_tenantId_fkey" FOREIGN KEY ("tenantId") REFERENCES "Tenant"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "RoleAssignment" ADD CONSTRAINT "RoleAssignment_tenantId_userId_fkey" FOREIGN KEY ("tenantId", "userId") REFERENCES "User"("tenantId", "id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "RoleAssignment" ADD CONSTRAINT "RoleAssignment_tenantId_groupId_fkey" FOREIGN KEY ("tenantId", "groupId") REFERENCES "UserGroup"("tenantId", "id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "RoleAssignment" ADD CONSTRAINT "RoleAssignment_tenantId_serviceAccountId_fkey" FOREIGN KEY ("tenantId", "serviceAccountId") REFERENCES "ServiceAccount"("tenantId", "id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ServiceAccount" ADD CONSTRAINT "ServiceAccount_tenantId_fkey" FOREIGN KEY ("tenantId") REFERENCES "Tenant"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "PersonalAccessToken" ADD CONSTRAINT "PersonalAccessToken_tenantId_serviceAccountId_fkey" FOREIGN KEY ("tenantId", "serviceAccountId") REFERENCES "ServiceAccount"("tenantId", "id") ON DELETE CASCADE ON UPDATE CASCADE;

