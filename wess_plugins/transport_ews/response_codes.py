"""Every EWS ResponseCode and what it means for a sync: one table, by code.

Built from the ``ResponseCodeType`` enumeration of the EWS schema (``messages.xsd``, shipped
in ``wess_emulator/schemas``); ``tests/ews/test_response_codes.py`` checks that every
code of that enumeration is here exactly once, so a new schema cannot leave one out.
Errors are classified by exchangelib's exception class (one per code) or by the code a
response carried, never by words in messages.

The consequences, and the transport-neutral errors (``wess_core.strategies``) they become:

``ITEM``         that item fails alone (a per-item error in its bulk call), retried next
                 run. In an answer that covers a whole folder (SyncFolderItems) there is no
                 item to blame: the folder is skipped this run (``FolderUnavailable``).
``FOLDER``       that folder is skipped this run (``FolderUnavailable``); the others go on.
``THROTTLED``    the server asks to back off (``MailboxBusy``; exchangelib's retry policy
                 already waits out the codes it knows, the rest fail the folder this run).
``RESYNC``       the sync state is lost (``InvalidSyncState``): a full resync that re-links.
``CREDENTIALS``  only new credentials help: the user is paused, one history entry.
``MAILBOX_GONE`` the mailbox is gone or access to it was removed: paused with that reason.
``REDISCOVER``   the mailbox is served elsewhere or the server did not answer: the folder
                 that failed is tried again with a freshly discovered URL, once per run
                 (``MailboxUnavailable.rediscover``).
``UNKNOWN``      anything else: recorded with its code, the user is not paused, the next
                 run retries.
"""

from __future__ import annotations

from enum import StrEnum


class Consequence(StrEnum):
    """What one EWS error means for the run (see the module's docstring)."""

    ITEM = "item"
    FOLDER = "folder"
    THROTTLED = "throttled"
    RESYNC = "resync"
    CREDENTIALS = "credentials"
    MAILBOX_GONE = "mailbox_gone"
    REDISCOVER = "rediscover"
    UNKNOWN = "unknown"


#: Whole-mailbox consequences: the guard stops the run's other folders at once.
WHOLE_MAILBOX = frozenset({Consequence.CREDENTIALS, Consequence.MAILBOX_GONE,
                           Consequence.REDISCOVER})  # fmt: skip
#: Consequences that pause the user until someone changes a setting.
PAUSES = frozenset({Consequence.CREDENTIALS, Consequence.MAILBOX_GONE})

# The codes by consequence, in the schema's order. Codes of features WESS never uses
# (IM, unified messaging, sharing, delegates, extensions, searches ...) and server-side
# failures with no better reading are UNKNOWN on purpose.

_ITEM = """
    ErrorAffectedTaskOccurrencesRequired ErrorAttachmentNestLevelLimitExceeded
    ErrorAttachmentSizeLimitExceeded ErrorBatchProcessingStopped
    ErrorCalendarCannotMoveOrCopyOccurrence ErrorCalendarCannotUpdateDeletedItem
    ErrorCalendarCannotUseIdForOccurrenceId ErrorCalendarCannotUseIdForRecurringMasterId
    ErrorCalendarDurationIsTooLong ErrorCalendarEndDateIsEarlierThanStartDate
    ErrorCalendarInvalidAttributeValue ErrorCalendarInvalidDayForTimeChangePattern
    ErrorCalendarInvalidDayForWeeklyRecurrence ErrorCalendarInvalidPropertyState
    ErrorCalendarInvalidPropertyValue ErrorCalendarInvalidRecurrence
    ErrorCalendarInvalidTimeZone ErrorCalendarIsCancelledForAccept
    ErrorCalendarIsCancelledForDecline ErrorCalendarIsCancelledForRemove
    ErrorCalendarIsCancelledForTentative ErrorCalendarIsDelegatedForAccept
    ErrorCalendarIsDelegatedForDecline ErrorCalendarIsDelegatedForRemove
    ErrorCalendarIsDelegatedForTentative ErrorCalendarIsNotOrganizer
    ErrorCalendarIsOrganizerForAccept ErrorCalendarIsOrganizerForDecline
    ErrorCalendarIsOrganizerForRemove ErrorCalendarIsOrganizerForTentative
    ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange
    ErrorCalendarOccurrenceIsDeletedFromRecurrence ErrorCalendarOutOfRange
    ErrorCalendarMeetingRequestIsOutOfDate ErrorCannotDeleteObject
    ErrorCannotOpenFileAttachment ErrorCannotDeleteTaskOccurrence
    ErrorCannotUseFolderIdForItemId ErrorChangeKeyRequired
    ErrorChangeKeyRequiredForWriteOperations ErrorContentConversionFailed ErrorCorruptData
    ErrorCrossMailboxMoveCopy ErrorDataSizeLimitExceeded ErrorDeleteItemsFailed
    ErrorDistributionListMemberNotExist ErrorEmailAddressMismatch
    ErrorIncorrectUpdatePropertyCount ErrorInvalidAttachmentId ErrorInvalidChangeKey
    ErrorInvalidCompleteDate ErrorInvalidContactEmailAddress ErrorInvalidContactEmailIndex
    ErrorInvalidExtendedProperty ErrorInvalidExtendedPropertyValue ErrorInvalidId
    ErrorInvalidIdEmpty ErrorInvalidIdMalformed ErrorInvalidIdMalformedEwsLegacyIdFormat
    ErrorInvalidIdMonikerTooLong ErrorInvalidIdNotAnItemAttachmentId
    ErrorInvalidIdStoreObjectIdTooLong ErrorInvalidIdTooManyAttachmentLevels
    ErrorInvalidIdXml ErrorInvalidInternetHeaderChildNodes
    ErrorInvalidItemForOperationArchiveItem ErrorInvalidItemForOperationCreateItemAttachment
    ErrorInvalidItemForOperationCreateItem ErrorInvalidItemForOperationAcceptItem
    ErrorInvalidItemForOperationDeclineItem ErrorInvalidItemForOperationCancelItem
    ErrorInvalidItemForOperationExpandDL ErrorInvalidItemForOperationRemoveItem
    ErrorInvalidItemForOperationSendItem ErrorInvalidItemForOperationTentative
    ErrorInvalidPercentCompleteValue ErrorInvalidPropertyAppend ErrorInvalidPropertyDelete
    ErrorInvalidPropertyForOperation ErrorInvalidPropertySet
    ErrorInvalidPropertyUpdateSentMessage ErrorInvalidRecipients ErrorInvalidReferenceItem
    ErrorInvalidRoutingType ErrorInvalidSendItemSaveSettings ErrorInvalidValueForProperty
    ErrorIrresolvableConflict ErrorItemCorrupt ErrorItemNotFound
    ErrorItemPropertyRequestFailed ErrorItemSave ErrorItemSavePropertyError
    ErrorMailRecipientNotFound ErrorMessageDispositionRequired ErrorMessageSizeExceeded
    ErrorMimeContentConversionFailed ErrorMimeContentInvalid
    ErrorMimeContentInvalidBase64String ErrorMissingInformationReferenceItemId
    ErrorMissingItemForCreateItemAttachment ErrorMissingRecipients ErrorMoveCopyFailed
    ErrorNoPropertyTagForCustomProperties ErrorObjectTypeChanged
    ErrorOccurrenceCrossingBoundary ErrorOccurrenceTimeSpanTooBig ErrorPropertyUpdate
    ErrorPropertyValidationFailure ErrorQuotaExceeded ErrorReadReceiptNotPending
    ErrorRecurrenceEndDateTooBig ErrorRecurrenceHasNoOccurrence ErrorRequiredPropertyMissing
    ErrorSendAsDenied ErrorSendMeetingCancellationsRequired
    ErrorSendMeetingInvitationsOrCancellationsRequired ErrorSendMeetingInvitationsRequired
    ErrorSentMeetingRequestUpdate ErrorSentTaskRequestUpdate ErrorStaleObject
    ErrorSubmissionQuotaExceeded ErrorTimeZone ErrorUpdatePropertyMismatch
    ErrorUnsupportedMapiPropertyType ErrorUnsupportedMimeConversion
    ErrorUnsupportedPropertyDefinition ErrorUnsupportedRecurrence
    ErrorUnsupportedTypeForConversion ErrorValueOutOfRange ErrorVirusDetected
    ErrorVirusMessageDeleted ErrorCalendarSeekToConditionNotSupported
    ErrorCalendarIsGroupMailboxForAccept ErrorCalendarIsGroupMailboxForDecline
    ErrorCalendarIsGroupMailboxForTentative
    ErrorCalendarIsGroupMailboxForSuppressReadReceipt ErrorMessageSubmissionBlocked
    ErrorExceededMessageLimit ErrorExceededMaxRecipientLimitBlock
    ErrorExceededMaxRecipientLimit ErrorMessageBlocked
    ErrorExceededMessageLimitShowTierUpgrade ErrorExceededMaxRecipientLimitShowTierUpgrade
"""

_FOLDER = """
    ErrorCalendarFolderIsInvalidForCalendarView ErrorCalendarViewRangeTooBig
    ErrorCannotAccessDeletedPublicFolder ErrorCannotCreateCalendarItemInNonCalendarFolder
    ErrorCannotCreateContactInNonContactFolder ErrorCannotCreatePostItemInNonMailFolder
    ErrorCannotCreateTaskInNonTaskFolder ErrorCannotGetSourceFolderPath
    ErrorCannotEmptyFolder ErrorCannotSetCalendarPermissionOnNonCalendarFolder
    ErrorCannotSetNonCalendarPermissionOnCalendarFolder
    ErrorCannotSetPermissionUnknownEntries ErrorCannotSpecifySearchFolderAsSourceFolder
    ErrorCannotUseItemIdForFolderId ErrorContainsFilterWrongType
    ErrorContentIndexingNotEnabled ErrorCreateItemAccessDenied
    ErrorCreateSubfolderAccessDenied ErrorDeleteDistinguishedFolder
    ErrorDuplicateInputFolderNames ErrorExceededFindCountLimit ErrorFolderCorrupt
    ErrorFolderNotFound ErrorFolderPropertRequestFailed ErrorFolderSave
    ErrorFolderSaveFailed ErrorFolderSavePropertyError ErrorFolderExists
    ErrorInvalidAttachmentSubfilter ErrorInvalidAttachmentSubfilterTextFilter
    ErrorInvalidExcludesRestriction ErrorInvalidExpressionTypeForSubFilter
    ErrorInvalidFolderId ErrorInvalidFolderTypeForOperation
    ErrorInvalidFractionalPagingParameters ErrorInvalidIndexedPagingParameters
    ErrorInvalidManagedFolderProperty ErrorInvalidManagedFolderQuota
    ErrorInvalidManagedFolderSize ErrorInvalidPagingMaxRows ErrorInvalidParentFolder
    ErrorInvalidPermissionSettings ErrorInvalidPropertyForExists ErrorInvalidPropertyRequest
    ErrorInvalidRecipientSubfilter ErrorInvalidRecipientSubfilterComparison
    ErrorInvalidRecipientSubfilterOrder ErrorInvalidRecipientSubfilterTextFilter
    ErrorInvalidRestriction ErrorInvalidSubfilterType
    ErrorInvalidSubfilterTypeNotAttendeeType ErrorInvalidSubfilterTypeNotRecipientType
    ErrorManagedFolderAlreadyExists ErrorManagedFolderNotFound
    ErrorManagedFoldersRootFailure ErrorMissingEmailAddressForManagedFolder
    ErrorMissingManagedFolderId ErrorMoveDistinguishedFolder ErrorNoCalendar
    ErrorNoFolderClassOverride ErrorNoPublicFolderReplicaAvailable
    ErrorNoPublicFolderServerAvailable ErrorOperationNotAllowedWithPublicFolderRoot
    ErrorParentFolderIdRequired ErrorParentFolderNotFound
    ErrorPublicFolderMailboxDiscoveryFailed ErrorPublicFolderOperationFailed
    ErrorPublicFolderRequestProcessingFailed ErrorPublicFolderServerNotFound
    ErrorPublicFolderSyncException ErrorQueryFilterTooLong ErrorRestrictionTooLong
    ErrorRestrictionTooComplex ErrorResultSetTooBig ErrorSavedItemFolderNotFound
    ErrorSearchFolderNotInitialized ErrorSyncFolderNotFound ErrorToFolderNotFound
    ErrorUnsupportedSubFilter ErrorUnsupportedPathForQuery ErrorUnsupportedPathForSortGroup
    ErrorUnsupportedQueryFilter ErrorMessagePerFolderCountReceiveQuotaExceeded
"""

_THROTTLED = """
    ErrorADUnavailable ErrorExceededConnectionCount ErrorInsufficientResources
    ErrorInternalServerTransientError ErrorMailboxStoreUnavailable ErrorNotEnoughMemory
    ErrorServerBusy ErrorTooManyObjectsOpened ErrorMailboxFailover
"""

_RESYNC = """
    ErrorInvalidSyncStateData
"""

_CREDENTIALS = """
    ErrorAccountDisabled ErrorCallerIsInvalidADAccount ErrorImpersonateUserDenied
    ErrorImpersonationDenied ErrorImpersonationFailed ErrorInvalidAuthorizationContext
    ErrorInvalidClientSecurityContext ErrorInvalidCrossForestCredentials
    ErrorInvalidLogonType ErrorInvalidNetworkServiceContext
    ErrorInvalidSerializedAccessToken ErrorLogonAsNetworkServiceFailed
    ErrorPasswordChangeRequired ErrorPasswordExpired
    ErrorInvalidExchangeImpersonationHeaderData ErrorTokenSerializationDenied
    ErrorInvalidClientAccessTokenRequest ErrorInvalidManagementRoleHeader
"""

_MAILBOX_GONE = """
    ErrorAccessDenied ErrorCannotFindUser ErrorInvalidMailbox ErrorInvalidSid
    ErrorInvalidSmtpAddress ErrorInvalidUserPrincipalName ErrorInvalidUserSid
    ErrorInvalidUserSidMissingUPN ErrorMailboxConfiguration ErrorMissingEmailAddress
    ErrorNonExistentMailbox ErrorNonPrimarySmtpAddress ErrorNotDelegate
    ErrorUserNotAllowedByPolicy ErrorOrganizationAccessBlocked ErrorInvalidLicense
    ErrorAccountSuspend ErrorAccountSuspendShowTierUpgrade
"""

_REDISCOVER = """
    ErrorAutoDiscoverFailed ErrorConnectionFailed ErrorCrossSiteRequest
    ErrorMailboxMoveInProgress ErrorNoApplicableProxyCASServersAvailable
    ErrorNoDestinationCASDueToKerberosRequirements ErrorNoDestinationCASDueToSSLRequirements
    ErrorNoDestinationCASDueToVersionMismatch ErrorNoRespondingCASInDestinationSite
    ErrorProxyRequestNotAllowed ErrorProxyServiceDiscoveryFailed ErrorServiceDiscoveryFailed
    ErrorTimeoutExpired ErrorWrongServerVersion ErrorWrongServerVersionDelegate
"""

_UNKNOWN = """
    ErrorAccessModeSpecified ErrorAddDelegatesFailed ErrorAddressSpaceNotFound
    ErrorADOperation ErrorADSessionFilter ErrorArchiveFolderPathCreation
    ErrorArchiveMailboxNotEnabled ErrorArchiveMailboxServiceDiscoveryFailed
    ErrorAvailabilityConfigNotFound ErrorCannotArchiveCalendarContactTaskFolderException
    ErrorCannotArchiveItemsInPublicFolders ErrorCannotArchiveItemsInArchiveMailbox
    ErrorCannotDisableMandatoryExtension ErrorCannotGetExternalEcpUrl
    ErrorClientDisconnected ErrorClientIntentInvalidStateDefinition
    ErrorClientIntentNotFound ErrorCreateManagedFolderPartialCompletion
    ErrorDataSourceOperation ErrorDelegateAlreadyExists ErrorDelegateCannotAddOwner
    ErrorDelegateMissingConfiguration ErrorDelegateNoUser ErrorDelegateValidationFailed
    ErrorDeleteUnifiedMessagingPromptFailed ErrorDistinguishedUserNotSupported
    ErrorDuplicateUserIdsSpecified ErrorEventNotFound ErrorExceededSubscriptionCount
    ErrorExpiredSubscription ErrorExtensionNotFound ErrorFreeBusyGenerationFailed
    ErrorGetServerSecurityDescriptorFailed ErrorImContactLimitReached
    ErrorImGroupDisplayNameAlreadyExists ErrorImGroupLimitReached
    ErrorIncorrectSchemaVersion ErrorIndividualMailboxLimitReached ErrorInternalServerError
    ErrorInvalidAccessLevel ErrorInvalidArgument ErrorInvalidDelegatePermission
    ErrorInvalidDelegateUserId ErrorInvalidFreeBusyViewType
    ErrorInvalidIdReturnedByResolveNames ErrorInvalidImContactId
    ErrorInvalidImDistributionGroupSmtpAddress ErrorInvalidImGroupId ErrorInvalidLikeRequest
    ErrorInvalidMergedFreeBusyInterval ErrorInvalidNameForNameResolution
    ErrorInvalidOperation ErrorInvalidOofParameter ErrorInvalidPhoneCallId
    ErrorInvalidPhoneNumber ErrorInvalidUserInfo ErrorInvalidProxySecurityContext
    ErrorInvalidPullSubscriptionId ErrorInvalidPushSubscriptionUrl ErrorInvalidRequest
    ErrorInvalidRetentionTagTypeMismatch ErrorInvalidRetentionTagInvisible
    ErrorInvalidRetentionTagInheritance ErrorInvalidRetentionTagIdGuid
    ErrorInvalidScheduledOofDuration ErrorInvalidSchemaVersionForMailboxVersion
    ErrorInvalidSecurityDescriptor ErrorInvalidServerVersion ErrorInvalidSIPUri
    ErrorInvalidSubscription ErrorInvalidSubscriptionRequest ErrorInvalidTimeInterval
    ErrorInvalidUserOofSettings ErrorInvalidWatermark ErrorIPGatewayNotFound
    ErrorLegacyMailboxFreeBusyViewTypeNotMerged ErrorLocalServerObjectNotFound
    ErrorMailboxDataArrayEmpty ErrorMailboxDataArrayTooBig ErrorMailboxHoldNotFound
    ErrorMailboxLogonFailed ErrorMailTipsDisabled ErrorMeetingSuggestionGenerationFailed
    ErrorMissingArgument ErrorMissingInformationEmailAddress ErrorMissingUserIdInformation
    ErrorMoreThanOneAccessModeSpecified ErrorMultiLegacyMailboxAccess
    ErrorNameResolutionMultipleResults ErrorNameResolutionNoMailbox
    ErrorNameResolutionNoResults ErrorNoFreeBusyAccess ErrorPhoneNumberNotDialable
    ErrorPromptPublishingOperationFailed ErrorProxiedSubscriptionCallFailure
    ErrorProxyCallFailed ErrorProxyGroupSidLimitExceeded ErrorProxyRequestProcessingFailed
    ErrorProxyTokenExpired ErrorReadEventsFailed ErrorRemoveDelegatesFailed
    ErrorRequestAborted ErrorRequestStreamTooBig ErrorResolveNamesInvalidFolderType
    ErrorResolveNamesOnlyOneContactsFolderAllowed ErrorResponseSchemaValidation
    ErrorSchemaValidation ErrorSubscriptionAccessDenied
    ErrorSubscriptionDelegateAccessNotSupported ErrorSubscriptionNotFound
    ErrorSubscriptionUnsubscribed ErrorTeamMailboxNotFound
    ErrorTeamMailboxNotLinkedToSharePoint ErrorTeamMailboxUrlValidationFailed
    ErrorTeamMailboxNotAuthorizedOwner ErrorTeamMailboxActiveToPendingDelete
    ErrorTeamMailboxFailedSendingNotifications ErrorTeamMailboxErrorUnknown
    ErrorTimeIntervalTooBig ErrorUnifiedGroupMailboxAADCreationFailed
    ErrorUnifiedGroupMailboxAADDeleteFailed ErrorUnifiedGroupMailboxNamingPolicy
    ErrorUnifiedGroupMailboxDeleteFailed ErrorUnifiedGroupMailboxNotFound
    ErrorUnifiedGroupMailboxUpdateDelayed ErrorUnifiedGroupMailboxUpdatedPartialProperties
    ErrorUnifiedGroupMailboxUpdateFailed ErrorUnifiedGroupMailboxProvisionFailed
    ErrorUnifiedMessagingDialPlanNotFound ErrorUnifiedMessagingReportDataNotFound
    ErrorUnifiedMessagingPromptNotFound ErrorUnifiedMessagingRequestFailed
    ErrorUnifiedMessagingServerNotFound ErrorUnableToGetUserOofSettings
    ErrorUnableToRemoveImContactFromGroup ErrorUnsupportedCulture ErrorUpdateDelegatesFailed
    ErrorUserNotUnifiedMessagingEnabled ErrorVoiceMailNotImplemented
    ErrorWebRequestInInvalidState ErrorWin32InteropError ErrorWorkingHoursSaveFailed
    ErrorWorkingHoursXmlMalformed ErrorMissingInformationSharingFolderId
    ErrorDuplicateSOAPHeader ErrorSharingSynchronizationFailed
    ErrorSharingNoExternalEwsAvailable ErrorFreeBusyDLLimitReached
    ErrorInvalidGetSharingFolderRequest ErrorNotAllowedExternalSharingByPolicy
    ErrorPermissionNotAllowedByPolicy ErrorOrganizationNotFederated
    ErrorInvalidExternalSharingInitiator ErrorMessageTrackingPermanentError
    ErrorMessageTrackingTransientError ErrorMessageTrackingNoSuchDomain
    ErrorUserWithoutFederatedProxyAddress ErrorInvalidOrganizationRelationshipForFreeBusy
    ErrorInvalidFederatedOrganizationId ErrorInvalidExternalSharingSubscriber
    ErrorInvalidSharingData ErrorInvalidSharingMessage ErrorNotSupportedSharingMessage
    ErrorApplyConversationActionFailed ErrorInboxRulesValidationError
    ErrorOutlookRuleBlobExists ErrorRulesOverQuota ErrorNewEventStreamConnectionOpened
    ErrorMissedNotificationEvents ErrorDuplicateLegacyDistinguishedName
    ErrorNoSpeechDetected ErrorUMServerUnavailable ErrorRecipientNotFound
    ErrorRecognizerNotInstalled ErrorSpeechGrammarError ErrorLocationServicesDisabled
    ErrorLocationServicesRequestTimedOut ErrorLocationServicesRequestFailed
    ErrorLocationServicesInvalidRequest ErrorWeatherServiceDisabled
    ErrorMailboxScopeNotAllowedWithoutQueryString ErrorArchiveMailboxSearchFailed
    ErrorGetRemoteArchiveFolderFailed ErrorFindRemoteArchiveFolderFailed
    ErrorGetRemoteArchiveItemFailed ErrorExportRemoteArchiveItemsFailed
    ErrorInvalidPhotoSize ErrorSearchQueryHasTooManyKeywords ErrorSearchTooManyMailboxes
    ErrorInvalidRetentionTagNone ErrorDiscoverySearchesDisabled ErrorInvalidBulkActionType
    ErrorInvalidKeepNCount ErrorInvalidKeepNType ErrorNoOAuthServerAvailableForRequest
    ErrorInstantSearchSessionExpired ErrorInstantSearchTimeout ErrorInstantSearchFailed
    ErrorUnsupportedUserForExecuteSearch ErrorDuplicateExtendedKeywordDefinition
    ErrorMissingExchangePrincipal ErrorUnexpectedUnifiedGroupsCount ErrorParsingXMLResponse
    ErrorInvalidFederationOrganizationIdentifier ErrorInvalidSweepRule
    ErrorInvalidSweepRuleOperationType ErrorTargetDomainNotSupported
    ErrorInvalidInternetWebProxyOnLocalServer
    ErrorNoSenderRestrictionsSettingsFoundInRequest
    ErrorDuplicateSenderRestrictionsInputFound ErrorSenderRestrictionsUpdateFailed
    ErrorInvalidLongitude ErrorInvalidLatitude ErrorProxySoapException
    ErrorUnifiedGroupAlreadyExists ErrorUnifiedGroupAadAuthorizationRequestDenied
    ErrorUnifiedGroupCreationDisabled ErrorMarketPlaceExtensionAlreadyInstalledForOrg
    ErrorExtensionAlreadyInstalledForOrg ErrorNewerExtensionAlreadyInstalled
    ErrorNewerMarketPlaceExtensionAlreadyInstalled ErrorInvalidExtensionId
    ErrorCannotUninstallProvidedExtensions
    ErrorNoRbacPermissionToInstallMarketPlaceExtensions
    ErrorNoRbacPermissionToInstallReadWriteMailboxExtensions
    ErrorInvalidReportMessageActionType
"""


#: Codes exchangelib knows that the shipped schema does not (older or newer servers).
_EXTRA = {
    "ErrorConnectionFailedTransientError": Consequence.THROTTLED,
    "ErrorFolderPropertyRequestFailed": Consequence.FOLDER,
    "ErrorRecoverableItemsAccessDenied": Consequence.FOLDER,
    "ErrorSubscriptionUnsubsribed": Consequence.UNKNOWN,
}

#: Every ResponseCode of the schema (but NoError) -> its consequence.
TABLE: dict[str, Consequence] = {
    code: Consequence[name]
    for name, codes in (
        ("ITEM", _ITEM),
        ("FOLDER", _FOLDER),
        ("THROTTLED", _THROTTLED),
        ("RESYNC", _RESYNC),
        ("CREDENTIALS", _CREDENTIALS),
        ("MAILBOX_GONE", _MAILBOX_GONE),
        ("REDISCOVER", _REDISCOVER),
        ("UNKNOWN", _UNKNOWN),
    )
    for code in codes.split()
}


def consequence(code: str | None) -> Consequence:
    """The consequence of a ResponseCode; ``UNKNOWN`` for a code no table knows."""
    if not code:
        return Consequence.UNKNOWN
    return TABLE.get(code) or _EXTRA.get(code) or Consequence.UNKNOWN


def code_of(exc: BaseException) -> str | None:
    """The ResponseCode an exchangelib error stands for: exchangelib raises one class per
    code (named as the code); a code it has no class for carries ``response_code``
    (``transport.UnknownResponseCode``). ``None`` when the error is not an EWS answer."""
    from exchangelib.errors import ResponseMessageError

    code = getattr(exc, "response_code", None)
    if code:
        return str(code)
    if isinstance(exc, ResponseMessageError) and type(exc) is not ResponseMessageError:
        return type(exc).__name__
    return None
